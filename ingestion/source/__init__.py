"""Reading rows: SQL sessions and cursors, query templates, values and types, rendering by the database, read-ahead."""
