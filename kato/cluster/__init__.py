"""The process model: a supervisor that owns N worker processes and the hash ring that maps sessions to them."""
