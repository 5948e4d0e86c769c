"""The console's widgets: one idea per file."""
