{{/* The release's full name, cut to Kubernetes' 63 characters. */}}
{{- define "bulk-import.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* A component's name: <fullname>-<component>. */}}
{{- define "bulk-import.component" -}}
{{- printf "%s-%s" (include "bulk-import.fullname" .root) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "bulk-import.selectorLabels" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "bulk-import.labels" -}}
{{ include "bulk-import.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- end -}}

{{- define "bulk-import.serviceAccountName" -}}
{{- default (include "bulk-import.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{/* An image reference: registry/name, then @digest or :tag. */}}
{{- define "bulk-import.image" -}}
{{- $v := .root.Values.image -}}
{{- $name := index $v.names .component -}}
{{- $repository := ternary $name (printf "%s/%s" (trimSuffix "/" $v.registry) $name) (empty $v.registry) -}}
{{- if $v.digest -}}
{{- printf "%s@%s" $repository $v.digest -}}
{{- else -}}
{{- printf "%s:%s" $repository $v.tag -}}
{{- end -}}
{{- end -}}

{{/* The scheduler's address inside the cluster. */}}
{{- define "bulk-import.schedulerHost" -}}
{{- printf "%s.%s.svc" (include "bulk-import.component" (dict "root" . "component" "scheduler")) .Release.Namespace -}}
{{- end -}}

{{/* Configuration shared by every container: the ConfigMap, and S3 credentials if a Secret holds them. */}}
{{- define "bulk-import.configEnv" -}}
envFrom:
  - configMapRef:
      name: {{ include "bulk-import.fullname" . }}
{{- with .Values.s3.existingSecret }}
env:
  - name: AWS_ACCESS_KEY_ID
    valueFrom:
      secretKeyRef: {name: {{ . }}, key: AWS_ACCESS_KEY_ID}
  - name: AWS_SECRET_ACCESS_KEY
    valueFrom:
      secretKeyRef: {name: {{ . }}, key: AWS_SECRET_ACCESS_KEY}
{{- else }}
env:
{{- end }}
{{- end -}}

{{/* Pod settings shared by every workload. */}}
{{- define "bulk-import.podSpecCommon" -}}
serviceAccountName: {{ include "bulk-import.serviceAccountName" .root }}
automountServiceAccountToken: false
securityContext:
  {{- toYaml .root.Values.podSecurityContext | nindent 2 }}
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* checkov skips that apply to every workload, each with its reason. */}}
{{- define "bulk-import.checkovSkips" -}}
checkov.io/skip1: CKV_K8S_43=Images are pinned by a versioned tag by default; set image.digest to pin by digest.
{{- if .Values.s3.existingSecret }}
checkov.io/skip2: CKV_K8S_35=The object store client reads credentials from environment variables only; IRSA (the default) needs no secret.
{{- end }}
{{- end -}}
