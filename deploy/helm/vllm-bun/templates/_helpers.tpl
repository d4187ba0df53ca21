{{- define "vllm-bun.fullname" -}}
{{- if contains .Chart.Name .Release.Name }}{{ .Release.Name | trunc 63 | trimSuffix "-" }}{{- else }}{{ printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}{{- end }}
{{- end }}

{{- define "vllm-bun.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "vllm-bun.labels" -}}
{{ include "vllm-bun.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{- define "vllm-bun.servedName" -}}
{{- default .Values.model .Values.servedModelName }}
{{- end }}

{{- define "vllm-bun.claimName" -}}
{{- default (printf "%s-hf-cache" (include "vllm-bun.fullname" .)) .Values.hfCache.existingClaim }}
{{- end }}
