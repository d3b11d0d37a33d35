{{/*
The Dapr apps, from values apps (keyed by app id), as a YAML list under
"apps" in app id order: id, binary, publicPort (0: none), appPort,
database, callers, publishes, subscribes and replicas (apps.<id>.replicas,
else the top-level replicas). Every per-app template ranges over it:
  range $app := (fromYaml (include "todo.appTable" .)).apps
A caller that is not an app of the chart, or an app whose public port is
its app port, fails the render.
*/}}
{{- define "todo.appTable" -}}
{{- $apps := list -}}
{{- range $id, $v := .Values.apps -}}
{{- $v = $v | default dict -}}
{{- range $caller := ($v.callers | default list) -}}
{{- if not (hasKey $.Values.apps $caller) -}}
{{- fail (printf "apps.%s.callers: %s is not an app of apps" $id $caller) -}}
{{- end -}}
{{- end -}}
{{- $appPort := required (printf "apps.%s.appPort is required" $id) $v.appPort -}}
{{- $publicPort := $v.publicPort | default 0 -}}
{{- if eq (int $publicPort) (int $appPort) -}}
{{- fail (printf "apps.%s: publicPort and appPort must differ: nothing outside the pod may reach the app port" $id) -}}
{{- end -}}
{{- $apps = append $apps (dict
  "id" $id
  "binary" (required (printf "apps.%s.binary is required" $id) $v.binary)
  "publicPort" (int $publicPort)
  "appPort" (int $appPort)
  "database" ($v.database | default false)
  "callers" ($v.callers | default list)
  "publishes" ($v.publishes | default list)
  "subscribes" ($v.subscribes | default list)
  "replicas" (ternary $v.replicas $.Values.replicas (hasKey $v "replicas"))) -}}
{{- end -}}
{{- toYaml (dict "apps" $apps) -}}
{{- end }}

{{/* Chart name and version, for the helm.sh/chart label. */}}
{{- define "todo.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Prefix of the release's own resources that are not an app (Secrets,
Configurations, Job, Ingress): the release name, or release-chart when the
release name does not contain the chart name.
*/}}
{{- define "todo.fullname" -}}
{{- if contains .Chart.Name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* Labels of every resource. */}}
{{- define "todo.labels" -}}
helm.sh/chart: {{ include "todo.chart" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: todo
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}

{{/* Selector labels of an app: dict "root" $ "app" $app. */}}
{{- define "todo.selectorLabels" -}}
app.kubernetes.io/name: {{ .app.id }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end }}

{{/* All labels of an app's resources: dict "root" $ "app" $app. */}}
{{- define "todo.appLabels" -}}
{{ include "todo.labels" .root }}
app.kubernetes.io/name: {{ .app.id }}
app.kubernetes.io/component: {{ .app.binary }}
{{- end }}

{{/* Image of an app: dict "root" $ "app" $app. */}}
{{- define "todo.image" -}}
{{- $v := index .root.Values.apps .app.id -}}
{{- $tag := $v.image.tag | default .root.Values.image.tag | default .root.Chart.AppVersion -}}
{{- $repo := required (printf "apps.%s.image.repository is required" .app.id) $v.image.repository -}}
{{- if .root.Values.image.registry -}}
{{- printf "%s/%s:%s" (trimSuffix "/" .root.Values.image.registry) $repo $tag -}}
{{- else -}}
{{- printf "%s:%s" $repo $tag -}}
{{- end -}}
{{- end }}

{{/* Secret with DATABASE_URL, JWT_SECRET and the broker credentials. */}}
{{- define "todo.secretName" -}}
{{- if .Values.secrets.create -}}
{{- printf "%s-secrets" (include "todo.fullname" .) -}}
{{- else -}}
{{- required "secrets.existingSecret is required when secrets.create is false" .Values.secrets.existingSecret -}}
{{- end -}}
{{- end }}

{{/* Secret with the Kafka SASL credentials. */}}
{{- define "todo.kafkaSecretName" -}}
{{- .Values.dapr.pubsub.sasl.secretName | default (include "todo.secretName" .) -}}
{{- end }}

{{/* Secret with the Redis password (dapr.pubsub.type redis). */}}
{{- define "todo.redisSecretName" -}}
{{- .Values.dapr.pubsub.redis.secretName | default (include "todo.secretName" .) -}}
{{- end }}

{{/* Secret with the RabbitMQ connection string (dapr.pubsub.type rabbitmq). */}}
{{- define "todo.rabbitmqSecretName" -}}
{{- .Values.dapr.pubsub.rabbitmq.secretName | default (include "todo.secretName" .) -}}
{{- end }}

{{/*
The broker of kafka-pubsub and live-pubsub: dapr.pubsub.type, kafka, redis
or rabbitmq (the components of components/pubsub*.yaml or
components/brokers/<type>/). MQTT is not offered: one replica per app only.
*/}}
{{- define "todo.pubsubType" -}}
{{- $t := .Values.dapr.pubsub.type | default "kafka" -}}
{{- if not (has $t (list "kafka" "redis" "rabbitmq")) -}}
{{- fail (printf "dapr.pubsub.type must be kafka, redis or rabbitmq, not %s" $t) -}}
{{- end -}}
{{- $t -}}
{{- end }}

{{/*
Fails when the broker's credentials are to be in the Secret the chart makes
(secrets.create, no dapr.pubsub.<type>.secretName) but secrets.values lacks
them: the Redis password (with dapr.pubsub.redis.usePassword) or the
RabbitMQ connection string.
*/}}
{{- define "todo.pubsubSecretsGiven" -}}
{{- $p := .Values.dapr.pubsub -}}
{{- $t := include "todo.pubsubType" . -}}
{{- if .Values.secrets.create -}}
{{- if and (eq $t "redis") $p.redis.usePassword (not $p.redis.secretName) (not .Values.secrets.values.redisPassword) -}}
{{- fail "secrets.values.redisPassword is required with dapr.pubsub.redis.usePassword (or name the Secret in dapr.pubsub.redis.secretName)" -}}
{{- end -}}
{{- if and (eq $t "rabbitmq") (not $p.rabbitmq.secretName) (not .Values.secrets.values.rabbitmqConnectionString) -}}
{{- fail "secrets.values.rabbitmqConnectionString is required with dapr.pubsub.type rabbitmq (or name the Secret in dapr.pubsub.rabbitmq.secretName)" -}}
{{- end -}}
{{- end -}}
{{- end }}

{{/*
The connection metadata of kafka-pubsub and live-pubsub on Redis: redisHost,
and from values only, redisPassword (a secretKeyRef) and enableTLS.
*/}}
{{- define "todo.redisConnection" -}}
{{- $r := .Values.dapr.pubsub.redis -}}
- name: redisHost
  value: {{ required "dapr.pubsub.redis.host (host:port) is required with dapr.pubsub.type redis" $r.host | quote }}
{{- if $r.usePassword }}
- name: redisPassword
  secretKeyRef:
    name: {{ include "todo.redisSecretName" . }}
    key: {{ .Values.secrets.keys.redisPassword }}
{{- end }}
{{- if $r.enableTLS }}
- name: enableTLS
  value: "true"
{{- end }}
{{- end }}

{{/*
The connection metadata of kafka-pubsub and live-pubsub on RabbitMQ: the
connectionString (amqp[s]://user:password@host:port/vhost) from the Secret.
*/}}
{{- define "todo.rabbitmqConnection" -}}
- name: connectionString
  secretKeyRef:
    name: {{ include "todo.rabbitmqSecretName" . }}
    key: {{ .Values.secrets.keys.rabbitmqConnectionString }}
{{- end }}

{{/*
Secrets (key "token") read by Dapr for dapr.io/api-token-secret (one for
every app: what each app sends to its sidecar) and dapr.io/app-token-secret
(one per app: what its sidecar sends to it, so that no app accepts calls
from another app's sidecar).
*/}}
{{- define "todo.daprApiTokenSecret" -}}
{{- .Values.tokens.daprApiToken.existingSecret | default (printf "%s-dapr-api-token" (include "todo.fullname" .)) -}}
{{- end }}
{{/* An app's own app token Secret: dict "root" $ "app" $app. */}}
{{- define "todo.appApiTokenSecret" -}}
{{- $given := .root.Values.tokens.appApiToken.existingSecrets | default dict -}}
{{- index $given .app.id | default (printf "%s-%s-app-api-token" (include "todo.fullname" .root) .app.id) -}}
{{- end }}

{{/* Dapr Configuration of an app: dict "root" $ "app" $app. */}}
{{- define "todo.daprConfigName" -}}
{{- printf "%s-config" .app.id -}}
{{- end }}

{{/*
A Secret value kept across upgrades: dict "root" $ "name" secretName "key" key
"value" givenValue "length" n, and optionally "bytes" true. The given value
if set; else the one the Secret already has in the cluster; else random: n
letters and digits, or with "bytes" the base64 of n random bytes.
*/}}
{{- define "todo.stableSecretValue" -}}
{{- if .value -}}
{{- .value -}}
{{- else -}}
{{- $existing := lookup "v1" "Secret" .root.Release.Namespace .name -}}
{{- if and $existing $existing.data (hasKey $existing.data .key) -}}
{{- index $existing.data .key | b64dec -}}
{{- else if .bytes -}}
{{- randBytes (int .length) -}}
{{- else -}}
{{- randAlphaNum (int .length) -}}
{{- end -}}
{{- end -}}
{{- end }}

{{/* Security context of every container of the chart (not the injected daprd). */}}
{{- define "todo.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Pod security context of every pod of the chart. */}}
{{- define "todo.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/*
The app ids allowed to load kafka-pubsub: every app that publishes or
subscribes through it (web-app has its own live-pubsub), then
dapr.pubsub.extraScopes.
*/}}
{{- define "todo.pubsubScopes" -}}
{{- $ids := list -}}
{{- range (fromYaml (include "todo.appTable" .)).apps }}{{ if or .publishes .subscribes }}{{ $ids = append $ids .id }}{{ end }}{{ end -}}
{{- $ids = concat $ids (.Values.dapr.pubsub.extraScopes | default list) | uniq -}}
{{- toYaml $ids -}}
{{- end }}

{{/*
web-app's PUBLIC_URL: web.publicUrl, else https://<ingress.web.host>.
values.schema.json allows https URLs only: the session cookie is Secure
outside localhost.
*/}}
{{- define "todo.webPublicUrl" -}}
{{- $u := .Values.web.publicUrl | default (printf "https://%s" (required "web.publicUrl or ingress.web.host is required" .Values.ingress.web.host)) -}}
{{- trimSuffix "/" $u -}}
{{- end }}
