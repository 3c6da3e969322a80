{{- define "jounce.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "jounce.fullname" -}}
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

{{- define "jounce.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "jounce.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "jounce.selectorLabels" -}}
app.kubernetes.io/name: {{ include "jounce.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "jounce.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "jounce.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "jounce.secretName" -}}
{{- default (printf "%s-secrets" (include "jounce.fullname" .)) .Values.existingSecret }}
{{- end }}

{{- define "jounce.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{/* Environment of every container: the ConfigMap, and secrets only through references. */}}
{{- define "jounce.env" -}}
envFrom:
  - configMapRef:
      name: {{ include "jounce.fullname" . }}-config
env:
  {{- include "jounce.secretEnv" . | nindent 2 }}
{{- end }}

{{/* The settings inline, for the migration hook, which runs before the ConfigMap exists. */}}
{{- define "jounce.hookEnv" -}}
env:
  {{- range $key, $value := .Values.config }}
  - name: {{ $key }}
    value: {{ $value | quote }}
  {{- end }}
  {{- include "jounce.secretEnv" . | nindent 2 }}
{{- end }}

{{- define "jounce.secretEnv" -}}
{{- range $name := list "DATABASE_URL" "SECRET_KEY" "CACHE_REDIS_URL" "CELERY_BROKER_URL" "CELERY_RESULT_BACKEND" }}
- name: {{ $name }}
  valueFrom:
    secretKeyRef:
      name: {{ include "jounce.secretName" $ }}
      key: {{ $name }}
{{- end }}
{{- range $name := list "API_KEY" "METRICS_TOKEN" }}
- name: {{ $name }}
  valueFrom:
    secretKeyRef:
      name: {{ include "jounce.secretName" $ }}
      key: {{ $name }}
      optional: true
{{- end }}
{{- end }}

{{/* Pod-level annotations that roll the pods when the configuration changes. */}}
{{- define "jounce.podAnnotations" -}}
checksum/config: {{ include (print $.Template.BasePath "/configmap.yaml") . | sha256sum }}
{{- if not .Values.existingSecret }}
checksum/secret: {{ include (print $.Template.BasePath "/secret.yaml") . | sha256sum }}
{{- end }}
{{- end }}

{{/* Writable scratch space: the root filesystem is read-only. */}}
{{- define "jounce.tmpVolume" -}}
- name: tmp
  emptyDir: {}
{{- end }}

{{- define "jounce.waitForMigrations" -}}
- name: wait-for-migrations
  image: {{ include "jounce.image" . }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  command: ["docker-entrypoint.sh", "true"]
  {{- include "jounce.env" . | nindent 2 }}
    - name: WAIT_FOR_MIGRATIONS
      value: "true"
  securityContext:
    {{- toYaml .Values.securityContext | nindent 4 }}
  resources:
    {{- toYaml .Values.migrations.resources | nindent 4 }}
  volumeMounts:
    - name: tmp
      mountPath: /tmp
{{- end }}
