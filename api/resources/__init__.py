"""HTTP resources: parse, authorise, validate, call a service, render."""
