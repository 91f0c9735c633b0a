"""The student's work: reading outputs, the run ledger, comparing, backing up."""
