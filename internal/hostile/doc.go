// Package hostile holds the outside-in hostile-input test of todo-api:
// generated requests (methods, routes, path values, query strings, bodies
// and headers, with NULs, invalid UTF-8, edge numbers and times, duplicate
// keys, bad encodings, deep nesting and wrong types) sent to the real HTTP
// server (the API handler behind service.Serve on a real listener, real
// token auth) backed by a fresh PostgreSQL database. Nothing may answer
// 5xx, every error must be the API's JSON error body, and the server must
// stay healthy. TestHostile runs it at CI size; `make fuzz` runs
// FuzzHostile for as long as FUZZTIME says.
package hostile
