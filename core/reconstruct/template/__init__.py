"""The built-in template reconstructor: photo -> avatar with no downloaded weights."""
from .reconstructor import TemplateReconstructor

__all__ = ["TemplateReconstructor"]
