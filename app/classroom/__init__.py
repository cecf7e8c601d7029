"""Class mode: a teacher's class, its students' tiles, and the messages between them (issue 15)."""
