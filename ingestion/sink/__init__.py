"""Writing documents: rows to bulk lines, transforms, the bulk writer, targets, deletes."""
