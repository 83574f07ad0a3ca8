{{/* The labels every object of the release carries. */}}
{{- define "sparkq.labels" -}}
app.kubernetes.io/name: sparkq
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: sparkq-{{ .Chart.Version }}
{{- end }}

{{/* The labels that select the adapter's pods. */}}
{{- define "sparkq.selectorLabels" -}}
app.kubernetes.io/name: sparkq
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The Secret holding the API token. */}}
{{- define "sparkq.tokenSecret" -}}
{{- if .Values.api.existingSecret }}{{ .Values.api.existingSecret }}{{ else }}{{ .Release.Name }}-api-token{{ end }}
{{- end }}
