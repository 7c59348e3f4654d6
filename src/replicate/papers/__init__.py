"""One subpackage per paper. A paper module imports shared code, never another paper's module."""
