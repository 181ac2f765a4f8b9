"""Strategies at run time: discovery of plugins, the package template, and the live runner."""
