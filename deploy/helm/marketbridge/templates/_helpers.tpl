{{/* The chart's name. */}}
{{- define "marketbridge.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The full name of what the release creates: release-chart, or the release alone when it holds the chart's name. */}}
{{- define "marketbridge.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "marketbridge.selectorLabels" -}}
app.kubernetes.io/name: {{ include "marketbridge.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* serverLabels select the serving pods, and not the migration Job's, which share the name and instance. */}}
{{- define "marketbridge.serverLabels" -}}
{{ include "marketbridge.selectorLabels" . }}
app.kubernetes.io/component: server
{{- end }}

{{- define "marketbridge.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "marketbridge.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "marketbridge.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "marketbridge.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "marketbridge.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion | toString) }}
{{- end }}
{{- end }}

{{/* postgres is "true" when the database is an external PostgreSQL, "" for SQLite on the volume. */}}
{{- define "marketbridge.postgres" -}}
{{- if .Values.database.existingSecret }}true{{ end }}
{{- end }}

{{/* validate fails the render on values that cannot work, with what to change. */}}
{{- define "marketbridge.validate" -}}
{{- if and .Values.database.existingSecret .Values.persistence.enabled }}
{{- fail "database.existingSecret (PostgreSQL) and persistence.enabled (SQLite) exclude each other: choose one" }}
{{- end }}
{{- if not (or .Values.database.existingSecret .Values.persistence.enabled) }}
{{- fail "no database: set database.existingSecret to a Secret holding a PostgreSQL URL, or persistence.enabled=true for SQLite on a volume (one replica)" }}
{{- end }}
{{- if and .Values.persistence.enabled (ne (int .Values.replicaCount) 1) }}
{{- fail "SQLite (persistence.enabled) runs one replica: set replicaCount=1, or use PostgreSQL for more" }}
{{- end }}
{{- $managed := dict "addr" "service.targetPort" "metrics-addr" "metrics.port" "data" "persistence" "database-url" "database.existingSecret" "catalog" "catalog" "webhooks-file" "webhooks.existingSecret" }}
{{- range $flag, $value := .Values.config }}
{{- if hasKey $managed $flag }}
{{- fail (printf "config.%s is set by the chart: use %s" $flag (get $managed $flag)) }}
{{- end }}
{{- if hasKey $.Values.secrets $flag }}
{{- fail (printf "config.%s is a secret: put it in an existing Secret and name it in secrets.%s" $flag $flag) }}
{{- end }}
{{- end }}
{{- end }}

{{/* envName is the environment variable of a serve flag, as internal/config.EnvName makes it. */}}
{{- define "marketbridge.envName" -}}
{{- printf "MARKETBRIDGE_%s" (. | upper | replace "-" "_") }}
{{- end }}

{{/* baseURL is config.base-url, or the first Ingress host's URL. */}}
{{- define "marketbridge.baseURL" -}}
{{- $v := get .Values.config "base-url" }}
{{- if $v }}{{ $v }}
{{- else if and .Values.ingress.enabled .Values.ingress.hosts }}
{{- $host := (first .Values.ingress.hosts).host }}
{{- printf "%s://%s" (ternary "https" "http" (gt (len .Values.ingress.tls) 0)) $host }}
{{- end }}
{{- end }}

{{/* env is the container's environment: the settings, the secrets by reference, never by value. */}}
{{- define "marketbridge.env" -}}
- name: MARKETBRIDGE_ADDR
  value: {{ printf ":%v" .Values.service.targetPort | quote }}
- name: MARKETBRIDGE_METRICS_ADDR
  value: {{ printf ":%v" .Values.metrics.port | quote }}
- name: MARKETBRIDGE_DATA
  value: /data
{{- if .Values.database.existingSecret }}
- name: MARKETBRIDGE_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.database.existingSecret }}
      key: {{ .Values.database.key }}
{{- end }}
{{- if or .Values.catalog.existingConfigMap .Values.catalog.json }}
- name: MARKETBRIDGE_CATALOG
  value: /etc/marketbridge/catalog/{{ .Values.catalog.key }}
{{- end }}
{{- if .Values.webhooks.existingSecret }}
- name: MARKETBRIDGE_WEBHOOKS_FILE
  value: /etc/marketbridge/webhooks/{{ .Values.webhooks.key }}
{{- end }}
{{- $baseURL := include "marketbridge.baseURL" . }}
{{- if $baseURL }}
- name: MARKETBRIDGE_BASE_URL
  value: {{ $baseURL | quote }}
{{- end }}
{{- range $flag, $value := .Values.config }}
{{- if and (ne $flag "base-url") (not (kindIs "invalid" $value)) (ne (toString $value) "") }}
- name: {{ include "marketbridge.envName" $flag }}
  value: {{ ternary (printf "%.0f" $value) (toString $value) (and (kindIs "float64" $value) (eq (floor $value) $value)) | quote }}
{{- end }}
{{- end }}
{{- range $flag, $ref := .Values.secrets }}
{{- if $ref.secretName }}
- name: {{ include "marketbridge.envName" $flag }}
  valueFrom:
    secretKeyRef:
      name: {{ $ref.secretName }}
      key: {{ $ref.key }}
{{- end }}
{{- end }}
{{- if .Values.aws.region }}
- name: AWS_REGION
  value: {{ .Values.aws.region | quote }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}
