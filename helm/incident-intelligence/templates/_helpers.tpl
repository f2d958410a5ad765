{{/* Names, labels and the pieces every service template shares. */}}

{{- define "ii.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* The name of one service's objects: ii.name (dict "root" $ "svc" .Values.ingestGateway) */}}
{{- define "ii.name" -}}
{{- printf "%s-%s" (include "ii.fullname" .root) .svc.name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "ii.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: incident-intelligence
{{ include "ii.selectorLabels" . }}
{{- end -}}

{{- define "ii.selectorLabels" -}}
app.kubernetes.io/name: {{ .svc.name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end -}}

{{- define "ii.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "ii.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "ii.image" -}}
{{- printf "%s/%s:%s" .root.Values.images.repository .svc.name (default .root.Chart.AppVersion .root.Values.images.tag) -}}
{{- end -}}

{{/* The Secret the chart creates for the MongoDB URI when no existing Secret is named. */}}
{{- define "ii.mongoSecretName" -}}
{{- default (printf "%s-mongodb" (include "ii.fullname" .)) .Values.mongodb.existingSecret -}}
{{- end -}}

{{/* Kafka, MongoDB and logging: the environment every service reads (CommonSettings). */}}
{{- define "ii.commonEnv" -}}
- name: KAFKA_BOOTSTRAP_SERVERS
{{- if .Values.kafka.existingSecret }}
  valueFrom:
    secretKeyRef:
      name: {{ .Values.kafka.existingSecret }}
      key: {{ .Values.kafka.existingSecretKey }}
{{- else }}
  value: {{ required "kafka.bootstrapServers or kafka.existingSecret is required" .Values.kafka.bootstrapServers | quote }}
{{- end }}
- name: KAFKA_TOPIC_PREFIX
  value: {{ .Values.kafka.topicPrefix | quote }}
- name: MONGODB_URI
  valueFrom:
    secretKeyRef:
      name: {{ include "ii.mongoSecretName" . }}
      key: {{ if .Values.mongodb.existingSecret }}{{ .Values.mongodb.existingSecretKey }}{{ else }}MONGODB_URI{{ end }}
- name: MONGODB_DATABASE
  value: {{ .Values.mongodb.database | quote }}
- name: LOG_LEVEL
  value: {{ .Values.logging.level | quote }}
- name: LOG_FORMAT
  value: {{ .Values.logging.format | quote }}
{{- end -}}

{{/* A service's own settings: PORT, its `env` map (sorted) and `extraEnv` entries. */}}
{{- define "ii.serviceEnv" -}}
- name: PORT
  value: {{ .svc.port | quote }}
{{- range $name, $value := .svc.env }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- with .svc.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* An environment variable from a Secret when one is named, else empty: (dict "name" "ref"). */}}
{{- define "ii.secretEnv" -}}
- name: {{ .name }}
{{- if .ref.existingSecret }}
  valueFrom:
    secretKeyRef:
      name: {{ .ref.existingSecret }}
      key: {{ .ref.existingSecretKey }}
{{- else }}
  value: ""
{{- end }}
{{- end -}}

{{/* API_TOKENS (who may write) from a Secret, when one is named. */}}
{{- define "ii.apiTokensEnv" -}}
{{ include "ii.secretEnv" (dict "name" "API_TOKENS" "ref" .svc.apiTokens) }}
{{- end -}}

{{/* READ_TOKENS (who may read events, incidents and the live feed) from a Secret, when one is named. */}}
{{- define "ii.readTokensEnv" -}}
{{ include "ii.secretEnv" (dict "name" "READ_TOKENS" "ref" .svc.readTokens) }}
{{- end -}}

{{/* Pod-level fields every service shares. */}}
{{- define "ii.podCommon" -}}
serviceAccountName: {{ include "ii.serviceAccountName" .root }}
automountServiceAccountToken: false
securityContext:
  {{- toYaml .root.Values.podSecurityContext | nindent 2 }}
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .svc.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .svc.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .svc.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .svc.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{- define "ii.podMetadata" -}}
labels:
  {{- include "ii.selectorLabels" . | nindent 2 }}
  app.kubernetes.io/part-of: incident-intelligence
  {{- with .root.Values.podLabels }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
annotations:
  checksum/config: {{ include "ii.configChecksum" .root | quote }}
  {{- with .root.Values.podAnnotations }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end -}}

{{/* Container fields every service shares: image, port, probes, resources, security, /tmp. */}}
{{- define "ii.containerCommon" -}}
image: {{ include "ii.image" . }}
imagePullPolicy: {{ .root.Values.images.pullPolicy }}
ports:
  - name: http
    containerPort: {{ .svc.port }}
    protocol: TCP
{{- with .svc.probes.startup }}
startupProbe:
  httpGet: {path: /health/live, port: http}
  {{- toYaml . | nindent 2 }}
{{- end }}
livenessProbe:
  httpGet: {path: /health/live, port: http}
  {{- toYaml .svc.probes.liveness | nindent 2 }}
readinessProbe:
  httpGet: {path: /health/ready, port: http}
  {{- toYaml .svc.probes.readiness | nindent 2 }}
resources:
  {{- toYaml .svc.resources | nindent 2 }}
securityContext:
  {{- toYaml .root.Values.securityContext | nindent 2 }}
volumeMounts:
  - name: tmp
    mountPath: /tmp
{{- end -}}

{{/* The Service in front of one service's pods. */}}
{{- define "ii.service" -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "ii.name" . }}
  labels:
    {{- include "ii.labels" . | nindent 4 }}
spec:
  type: ClusterIP
  selector:
    {{- include "ii.selectorLabels" . | nindent 4 }}
  ports:
    - name: http
      port: {{ .svc.port }}
      targetPort: http
      protocol: TCP
{{- end -}}

{{- define "ii.hpa" -}}
{{- if .svc.autoscaling.enabled }}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "ii.name" . }}
  labels:
    {{- include "ii.labels" . | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "ii.name" . }}
  minReplicas: {{ .svc.autoscaling.minReplicas }}
  maxReplicas: {{ .svc.autoscaling.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ .svc.autoscaling.targetCPUUtilizationPercentage }}
  {{- with .svc.autoscaling.behavior }}
  behavior:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
{{- end -}}

{{- define "ii.pdb" -}}
{{- if .svc.pdb.enabled }}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "ii.name" . }}
  labels:
    {{- include "ii.labels" . | nindent 4 }}
spec:
  {{- if hasKey .svc.pdb "minAvailable" }}
  minAvailable: {{ .svc.pdb.minAvailable }}
  {{- else }}
  maxUnavailable: {{ .svc.pdb.maxUnavailable | default 1 }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "ii.selectorLabels" . | nindent 6 }}
{{- end }}
{{- end -}}

{{/* The checksum of the chart-made MongoDB Secret: pods restart when the URI changes. */}}
{{- define "ii.configChecksum" -}}
{{- printf "%s|%s|%s" .Values.mongodb.uri .Values.kafka.bootstrapServers .Values.kafka.topicPrefix | sha256sum | trunc 16 -}}
{{- end -}}
