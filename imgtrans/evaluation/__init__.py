"""Quality numbers for trained models: a reference classifier, image metrics,
and the evaluation suites behind `imgtrans eval` (imports torch)."""
