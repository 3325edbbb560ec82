"""Training: the Lightning modules, the fit loop, its callbacks, seeding, optimisers, loggers."""
