{{/*
The chart's name.
*/}}
{{- define "taskpod.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
A fully qualified app name, truncated at 63 characters (the DNS label limit).
If the release name contains the chart name it is used as the full name.
*/}}
{{- define "taskpod.fullname" -}}
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

{{/*
The full name with a suffix, at most 63 characters: the full name is shortened, never the
suffix, so that names of different objects stay different. (dict "ctx" $ "suffix" "data")
*/}}
{{- define "taskpod.suffixedName" -}}
{{- $max := sub 62 (len .suffix) | int }}
{{- printf "%s-%s" (include "taskpod.fullname" .ctx | trunc $max | trimSuffix "-") .suffix }}
{{- end }}

{{/*
Chart name and version as used by the chart label.
*/}}
{{- define "taskpod.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels.
*/}}
{{- define "taskpod.labels" -}}
helm.sh/chart: {{ include "taskpod.chart" . }}
{{ include "taskpod.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Selector labels.
*/}}
{{- define "taskpod.selectorLabels" -}}
app.kubernetes.io/name: {{ include "taskpod.name" . }}
app.kubernetes.io/instance: {{ .Release.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels with a component. (dict "ctx" $ "component" "dispatcher")
*/}}
{{- define "taskpod.componentLabels" -}}
{{ include "taskpod.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/*
Selector labels with a component. (dict "ctx" $ "component" "dispatcher")
*/}}
{{- define "taskpod.componentSelectorLabels" -}}
{{ include "taskpod.selectorLabels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/*
Labels of a pod template: the component labels plus .Values.podLabels.
*/}}
{{- define "taskpod.podLabels" -}}
{{ include "taskpod.componentLabels" . }}
{{- with .ctx.Values.podLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
The image, by digest when one is given.
*/}}
{{- define "taskpod.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion | toString) }}
{{- end }}
{{- end }}

{{/*
Names of the image pull secrets (items may be {name: x} or x), one per line.
*/}}
{{- define "taskpod.imagePullSecretNames" -}}
{{- range .Values.imagePullSecrets }}
{{ if kindIs "string" . }}{{ . }}{{ else }}{{ .name }}{{ end }}
{{- end }}
{{- end }}

{{/*
imagePullSecrets of a pod spec (nothing when there are none).
*/}}
{{- define "taskpod.imagePullSecrets" -}}
{{- $names := include "taskpod.imagePullSecretNames" . | trim }}
{{- if $names -}}
imagePullSecrets:
{{- range splitList "\n" $names }}
  - name: {{ . | trim }}
{{- end }}
{{- end }}
{{- end }}

{{/*
ServiceAccount names.
*/}}
{{- define "taskpod.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "taskpod.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "taskpod.taskServiceAccountName" -}}
{{- if .Values.taskServiceAccount.create }}
{{- default (include "taskpod.suffixedName" (dict "ctx" . "suffix" "task")) .Values.taskServiceAccount.name }}
{{- else }}
{{- default "default" .Values.taskServiceAccount.name }}
{{- end }}
{{- end }}

{{/*
The Secret holding DATABASE_URL, and its key.
*/}}
{{- define "taskpod.databaseSecretName" -}}
{{- if .Values.database.existingSecret }}
{{- .Values.database.existingSecret }}
{{- else }}
{{- include "taskpod.suffixedName" (dict "ctx" . "suffix" "database") }}
{{- end }}
{{- end }}

{{- define "taskpod.databaseSecretKey" -}}
{{- if .Values.database.existingSecret }}
{{- .Values.database.existingSecretKey | default "DATABASE_URL" }}
{{- else }}
{{- "DATABASE_URL" }}
{{- end }}
{{- end }}

{{/*
The shared volume's claim.
*/}}
{{- define "taskpod.claimName" -}}
{{- if .Values.persistence.existingClaim }}
{{- .Values.persistence.existingClaim }}
{{- else }}
{{- include "taskpod.suffixedName" (dict "ctx" . "suffix" "data") }}
{{- end }}
{{- end }}

{{- define "taskpod.jobPrefix" -}}
{{- .Values.dispatcher.jobPrefix | default (include "taskpod.fullname" . | trunc 42 | trimSuffix "-") }}
{{- end }}

{{- define "taskpod.podTemplateConfigMapName" -}}
{{- include "taskpod.suffixedName" (dict "ctx" . "suffix" "pod-template") }}
{{- end }}

{{- define "taskpod.podTemplateDir" -}}
/etc/taskpod/pod-template
{{- end }}

{{/*
A CronJob's name: the full name, shortened so that "<full name>-<schedule name>" stays within
52 characters (the CronJob limit: its Jobs add an 11-character suffix). (dict "ctx" $ "name" "x")
*/}}
{{- define "taskpod.scheduleName" -}}
{{- $max := sub 51 (len .name) | int }}
{{- printf "%s-%s" (include "taskpod.fullname" .ctx | trunc $max | trimSuffix "-") .name }}
{{- end }}

{{/*
The pod security context of every pod: the configured ids, always runAsNonRoot and the
runtime's default seccomp profile.
*/}}
{{- define "taskpod.podSecurityContext" -}}
{{- $ctx := dict }}
{{- range $k, $v := .Values.podSecurityContext }}
{{- if not (kindIs "invalid" $v) }}
{{- $_ := set $ctx $k $v }}
{{- end }}
{{- end }}
{{- $_ := set $ctx "runAsNonRoot" true }}
{{- $_ := set $ctx "seccompProfile" (dict "type" "RuntimeDefault") }}
{{- toYaml $ctx }}
{{- end }}

{{/*
The container security context of every container.
*/}}
{{- define "taskpod.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/*
DATABASE_URL from the Secret.
*/}}
{{- define "taskpod.databaseUrlEnv" -}}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "taskpod.databaseSecretName" . }}
      key: {{ include "taskpod.databaseSecretKey" . }}
{{- end }}

{{/*
Checks of values the schema cannot express; included by configmap.yaml, so every render runs them.
*/}}
{{- define "taskpod.validate" -}}
{{- if and (not .Values.database.url) (not .Values.database.existingSecret) }}
{{- fail "taskpod: set database.url (a PostgreSQL connection string; the chart keeps it in a Secret) or database.existingSecret (a Secret you manage, with the connection string under database.existingSecretKey). The migration hook, the dispatcher and every task pod read DATABASE_URL from it." }}
{{- end }}
{{- if and .Values.database.url .Values.database.existingSecret }}
{{- fail "taskpod: set only one of database.url and database.existingSecret" }}
{{- end }}
{{- if and .Values.dispatcher.enabled .Values.rbac.create (not .Values.serviceAccount.create) (not .Values.serviceAccount.name) }}
{{- fail "taskpod: serviceAccount.create is false but serviceAccount.name is empty: the dispatcher's Role would be bound to the namespace's default ServiceAccount, and so to every pod using it. Name the ServiceAccount the dispatcher should use." }}
{{- end }}
{{- $managed := include "taskpod.managedEnv" . | fromYaml }}
{{- range $key, $_ := .Values.config }}
{{- if or (hasKey $managed $key) (eq $key "DATABASE_URL") }}
{{- fail (printf "taskpod: config.%s is set by the chart from a typed value (see values.yaml); set that value instead" $key) }}
{{- end }}
{{- end }}
{{- $names := dict }}
{{- range .Values.schedules }}
{{- $name := include "taskpod.scheduleName" (dict "ctx" $ "name" .name) }}
{{- if hasKey $names $name }}
{{- fail (printf "taskpod: two schedules are named %q" .name) }}
{{- end }}
{{- $_ := set $names $name true }}
{{- end }}
{{- end }}

{{/*
The environment the chart sets for every taskpod process, as a YAML map (the ConfigMap's data).
Keys are taskpod's environment variables (src/config.ts).
*/}}
{{- define "taskpod.managedEnv" -}}
TASKPOD_EXECUTOR: kubernetes
TASKPOD_NAMESPACE: {{ .Release.Namespace | quote }}
TASKPOD_SCHEMA: {{ .Values.database.schema | quote }}
TASKPOD_DATABASE_SECRET: {{ include "taskpod.databaseSecretName" . | quote }}
TASKPOD_DATABASE_SECRET_KEY: {{ include "taskpod.databaseSecretKey" . | quote }}
TASKPOD_IMAGE: {{ include "taskpod.image" . | quote }}
TASKPOD_IMAGE_PULL_POLICY: {{ .Values.image.pullPolicy | quote }}
TASKPOD_IMAGE_PULL_SECRETS: {{ include "taskpod.imagePullSecretNames" . | trim | splitList "\n" | compact | join "," | quote }}
TASKPOD_PVC: {{ include "taskpod.claimName" . | quote }}
TASKPOD_DATA_DIR: {{ .Values.persistence.mountPath | quote }}
TASKPOD_JOB_DATA_DIR: {{ .Values.persistence.mountPath | quote }}
TASKPOD_TASK_SERVICE_ACCOUNT: {{ include "taskpod.taskServiceAccountName" . | quote }}
TASKPOD_JOB_PREFIX: {{ include "taskpod.jobPrefix" . | quote }}
TASKPOD_CONCURRENCY: {{ .Values.dispatcher.concurrency | toJson | quote }}
TASKPOD_TYPE_CONCURRENCY: {{ .Values.dispatcher.typeConcurrency | toJson | quote }}
TASKPOD_TYPE_RESOURCES: {{ .Values.tasks.typeResources | toJson | quote }}
TASKPOD_START_DEADLINE_SECONDS: {{ .Values.dispatcher.startDeadlineSeconds | toJson | quote }}
TASKPOD_KUEUE_QUEUE: {{ .Values.dispatcher.kueueQueue | quote }}
TASKPOD_POD_TEMPLATE_FILE: {{ if .Values.tasks.podTemplate }}{{ printf "%s/pod-template.yaml" (include "taskpod.podTemplateDir" .) | quote }}{{ else }}""{{ end }}
TASKPOD_MAX_ATTEMPTS: {{ .Values.tasks.maxAttempts | toJson | quote }}
TASKPOD_JOB_TTL_SECONDS: {{ .Values.tasks.jobTtlSeconds | toJson | quote }}
TASKPOD_JOB_BACKOFF_LIMIT: {{ .Values.tasks.jobBackoffLimit | toJson | quote }}
TASKPOD_JOB_DEADLINE_GRACE_SECONDS: {{ .Values.tasks.jobDeadlineGraceSeconds | toJson | quote }}
TASKPOD_COMMAND_ALLOW: {{ .Values.tasks.commandAllow | join "," | quote }}
TASKPOD_LOG_LEVEL: {{ .Values.logLevel | quote }}
TASKPOD_LOG_FORMAT: json
TASKPOD_LISTEN_HOST: 0.0.0.0
TASKPOD_PORT: "9090"
{{- end }}

{{/*
The tmp volume every pod mounts at /tmp (the root filesystem is read-only), and its mount.
*/}}
{{- define "taskpod.tmpVolume" -}}
- name: tmp
  emptyDir: {}
{{- end }}

{{- define "taskpod.tmpMount" -}}
- name: tmp
  mountPath: /tmp
{{- end }}

{{/*
A pod's nodeSelector, affinity and tolerations: the chart-wide values, or those a schedule sets
itself. (dict "ctx" $ "overrides" $schedule); overrides is optional.
*/}}
{{- define "taskpod.scheduling" -}}
{{- $v := .ctx.Values }}
{{- $o := .overrides | default dict }}
{{- with (hasKey $o "nodeSelector" | ternary $o.nodeSelector $v.nodeSelector) }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with (hasKey $o "affinity" | ternary $o.affinity $v.affinity) }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with (hasKey $o "tolerations" | ternary $o.tolerations $v.tolerations) }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{- define "taskpod.dataVolume" -}}
- name: data
  persistentVolumeClaim:
    claimName: {{ include "taskpod.claimName" . }}
{{- end }}
