"""A small Sphinx extension for the book: keep every page working offline and free of console errors.

- sphinx-thebe and the book theme both inject the same inline Thebe configuration script, which makes the browser
  report "Identifier 'THEBE_JS_URL' has already been declared" on every page: keep one copy of each script.
"""
from __future__ import annotations


def _dedupe_scripts(app, pagename, templatename, context, doctree):
    seen = set()
    kept = []
    for js in context.get("script_files", []):
        attrs = getattr(js, "attributes", {}) or {}
        key = (str(getattr(js, "filename", js) or ""), tuple(sorted((k, str(v)) for k, v in attrs.items())))
        if key in seen:
            continue
        seen.add(key)
        kept.append(js)
    context["script_files"] = kept


def setup(app):
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
