// Package contract holds, one package per callee, the service-invocation
// contracts between the apps: the typed requests and answers, the method
// paths and a small client over the Dapr invoke call. The callee serves
// these types and the callers, tests and tools call through the client, so
// no side writes the contract a second time.
//
//   - todointernal: the routes todo-api offers the other apps (next
//     occurrence, due reminders, reminders sent and released).
//   - auditapi: audit-service's task history and dead letters.
//   - notifierapi: notification-service's inboxes.
//   - webapi: web-app's JWK Set (the keys of its API tokens).
package contract
