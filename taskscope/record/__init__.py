"""What a row is: the record's declaration (:mod:`.columns`), the words both sides use
(:mod:`.vocabulary`), which source a logger is (:mod:`.sources`), how a row is built
(:mod:`.rows`) and how any value is made safe to store (:mod:`.safe`)."""
