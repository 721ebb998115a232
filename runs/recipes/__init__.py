"""Recipes and the configs they share: the schema, overrides, validation, machine checks."""
