"""Event Transform's modes, one module each: its ``validate(options)`` beside its ``run(ctx)``.

:mod:`storyline.actions.event_transformation` is the action; it picks the mode's module.
"""
