"""One reader per agency layout."""
