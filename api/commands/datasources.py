"""Own `connector datasource ...`: register, inspect and remove SQL datasources."""

from __future__ import annotations

from typing import Any

import click

from api.commands.call import FROM_OPTION, ids, listing_hint, more, read_body, request
from api.commands.output import (
    Output,
    output_option,
    print_fields,
    print_json,
    print_table,
)

DATASOURCE_ID = click.argument("ds_id", metavar="DATASOURCE_ID", shell_complete=ids("datasource"))


@click.group()
def datasource() -> None:
    """Register, inspect and remove SQL datasources.

    Against the service at CONNECTOR_URL (default http://127.0.0.1:8080), with CONNECTOR_TOKEN if set.
    """


@datasource.command("put")
@DATASOURCE_ID
@click.option("--file", "file_", required=True, help='JSON body {"jdbc": {...}} or {"sql": {...}}; - for stdin.')
@click.option("--overwrite", is_flag=True, help="Replace an existing datasource (else it is an error).")
def datasource_put(ds_id: str, file_: str, overwrite: bool) -> None:
    """Create or replace a datasource; prints the service's answer."""
    body = read_body(file_)
    print_json(request("PUT", f"/datasource/{ds_id}", body, params={"overwrite": overwrite or None}, flags=_OVERWRITE))


_OVERWRITE = {"overwrite": "--overwrite"}


@datasource.command("get")
@DATASOURCE_ID
@output_option
def datasource_get(ds_id: str, output: Output) -> None:
    """Show a datasource (never its password)."""
    found = request("GET", f"/datasource/{ds_id}", output=output, hints=listing_hint("datasource"))
    if output == "json":
        print_json(found)
        return
    source = found["_source"]
    kind = "jdbc" if "jdbc" in source else "sql"
    conf = source.get(kind, {})
    print_fields(
        [
            ("id", found["_id"]),
            ("type", kind),
            ("url", conf.get("url")),
            ("driver", conf.get("driver")),
            ("username", conf.get("username")),
            ("timezone", conf.get("timezone")),
            ("properties", conf.get("properties") or None),
            ("description", source.get("description")),
        ]
    )


@datasource.command("list")
@FROM_OPTION
@click.option("--size", type=click.IntRange(min=1), default=100, show_default=True, help="At most this many.")
@output_option
def datasource_list(from_: int, size: int, output: Output) -> None:
    """List datasources, by id."""
    found = request("GET", "/datasource/_search", params={"from": from_, "size": size}, output=output)
    if output == "json":
        print_json(found)
        return
    print_table(DATASOURCE_COLUMNS, datasource_rows(found), empty="no datasources")
    more(found, from_, len(found["hits"]["hits"]))


DATASOURCE_COLUMNS = ("ID", "TYPE", "URL", "USER", "DESCRIPTION")


def datasource_rows(found: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Rows of `datasource list` from a ``_search`` response."""
    rows = []
    for hit in found["hits"]["hits"]:
        source = hit["_source"]
        kind = "jdbc" if "jdbc" in source else "sql"
        conf = source.get(kind, {})
        rows.append((hit["_id"], kind, conf.get("url"), conf.get("username"), source.get("description")))
    return rows


@datasource.command("delete")
@DATASOURCE_ID
@click.option("--force", is_flag=True, help="Delete it even while ingestions use it.")
def datasource_delete(ds_id: str, force: bool) -> None:
    """Delete a datasource; prints the service's answer."""
    print_json(request("DELETE", f"/datasource/{ds_id}", params={"force": force or None}, flags={"force": "--force"}))


@datasource.command("validate")
@DATASOURCE_ID
def datasource_validate(ds_id: str) -> None:
    """Connect and run a trivial read-only query; prints the report."""
    print_json(request("POST", f"/datasource/{ds_id}/_validate"))


@datasource.command("metadata")
@DATASOURCE_ID
@click.option("--catalog", help="Catalog (database) to look into; default: the connected one.")
@click.option("--schema", help="Schema whose tables and columns to list; without it: the schemas.")
@click.option("--table", help="Only this table of --schema.")
def datasource_metadata(ds_id: str, catalog: str | None, schema: str | None, table: str | None) -> None:
    """Browse catalogs, schemas, tables and columns; prints the service's JSON."""
    params = {"catalog": catalog, "schema": schema, "table": table}
    print_json(request("POST", f"/datasource/{ds_id}/_metadata", params=params))


@datasource.command("sample")
@DATASOURCE_ID
@click.option("--query", required=True, help="SQL to run read-only (a SELECT).")
@click.option("--size", type=click.IntRange(min=1), default=10, show_default=True, help="Rows to fetch.")
@output_option
def datasource_sample(ds_id: str, query: str, size: int, output: Output) -> None:
    """Run a query and show its first rows (JSON also has the inferred mapping)."""
    found = request("POST", f"/datasource/{ds_id}/_sample", {"query": query, "size": size}, output=output)
    if output == "json":
        print_json(found)
        return
    columns = [c["name"] for c in found["columns"]]
    print_table(columns, ([row.get(c) for c in columns] for row in found["rows"]), empty="no rows")
