"""Our own fuzzing suite: seeded mutations of files our writers make, run in memory- and time-limited workers."""
