# syntax=docker/dockerfile:1
#
# Container images of the services, from one Dockerfile. Pick the image with
# its build target (the target is the binary's name under cmd/; the image is
# todo-<binary>, todo-api for todo-api):
#
#   docker build --target todo-api  --build-arg VERSION=1.2.3 -t todo-api:1.2.3 .
#   docker build --target audit     --build-arg VERSION=1.2.3 -t todo-audit:1.2.3 .
#
# and likewise recurring, reminder, notifier (the targets below). The build
# stage compiles every service in one `go build` (BuildKit builds it once
# and shares it between the targets). Each image is
# distroless/static (no shell, no package manager), runs as uid 65532, and
# has its binary at /app/<binary> as its entrypoint. Needs BuildKit (the
# default builder since Docker 23). docs/deploy.md has the details;
# deploy/composecheck runs this very `go build` command to check it.

ARG GO_IMAGE=golang:1.26
ARG BASE_IMAGE=gcr.io/distroless/static-debian12:nonroot

# ---- build: the service binaries ------------------------------------------
# Runs on the builder's own platform and cross-compiles for the target one
# (pure Go, CGO_ENABLED=0), so multi-platform builds need no emulation.
FROM --platform=$BUILDPLATFORM ${GO_IMAGE} AS build
WORKDIR /src
# Dependencies in their own layer: rebuilt only when go.mod or go.sum change.
COPY go.mod go.sum ./
COPY deploy/registry/go.mod deploy/registry/
RUN go mod download
COPY . .
ARG VERSION=dev
ARG TARGETOS
ARG TARGETARCH
RUN --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} go build -trimpath \
      -ldflags "-s -w -X github.com/evolution-todo/todo/internal/buildinfo.Version=${VERSION}" \
      -o /out/ ./cmd/todo-api ./cmd/audit ./cmd/recurring ./cmd/reminder ./cmd/notifier ./cmd/web

# ---- runtime base shared by every image ------------------------------------
FROM ${BASE_IMAGE} AS runtime
ARG BASE_IMAGE
ARG VERSION=dev
LABEL org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.vendor="evolution-todo" \
      org.opencontainers.image.source="https://github.com/evolution-todo/todo" \
      org.opencontainers.image.base.name="${BASE_IMAGE}"
WORKDIR /app
USER 65532:65532
# Prometheus metrics of every service (METRICS_ADDR, default :9464).
EXPOSE 9464

# ---- one target per service ------------------------------------------------
# todo-api comes last so that a plain `docker build .` builds it.
# One target per app of internal/devstack/apps.json, from the registry, as is
# the package list of the go build above
# (cd deploy/composecheck && go test -run TestGenerated -update).
# BEGIN GENERATED targets
FROM runtime AS audit
LABEL org.opencontainers.image.title="todo-audit" \
      org.opencontainers.image.description="Audit log of task events (Dapr app audit-service)"
COPY --from=build /out/audit /app/audit
ENTRYPOINT ["/app/audit"]

FROM runtime AS recurring
LABEL org.opencontainers.image.title="todo-recurring" \
      org.opencontainers.image.description="Next occurrences of recurring tasks (Dapr app recurring-service)"
COPY --from=build /out/recurring /app/recurring
ENTRYPOINT ["/app/recurring"]

FROM runtime AS reminder
LABEL org.opencontainers.image.title="todo-reminder" \
      org.opencontainers.image.description="Cron-triggered reminder sweep (Dapr app reminder-service)"
COPY --from=build /out/reminder /app/reminder
ENTRYPOINT ["/app/reminder"]

FROM runtime AS notifier
LABEL org.opencontainers.image.title="todo-notifier" \
      org.opencontainers.image.description="Reminder inboxes (Dapr app notification-service)"
COPY --from=build /out/notifier /app/notifier
ENTRYPOINT ["/app/notifier"]

FROM runtime AS web
LABEL org.opencontainers.image.title="todo-web" \
      org.opencontainers.image.description="Web pages, sign-in and live updates of the todo system (Dapr app web-app)"
COPY --from=build /out/web /app/web
EXPOSE 8085
ENTRYPOINT ["/app/web"]

FROM runtime AS todo-api
LABEL org.opencontainers.image.title="todo-api" \
      org.opencontainers.image.description="REST API and outbox relay of the todo system (Dapr app todo-api)"
COPY --from=build /out/todo-api /app/todo-api
EXPOSE 8080
ENTRYPOINT ["/app/todo-api"]
# END GENERATED targets
