package store

// DueRemindersQuery lets the tests check the plan of the real query.
const DueRemindersQuery = dueRemindersQuery
