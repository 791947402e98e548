"""The web page (SPEC §11): an HTML shell, ES modules and a style sheet, served by the app.

The page is a client of the JSON API: it calls the same endpoints as curl,
with the caller's credentials from the tab's session storage. Nothing here
knows about datasources, ingestions or jobs; ``resources.py`` only serves
files.
"""
