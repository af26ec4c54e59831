{{/*
Names, labels and shared pieces of the Spoor chart.
*/}}

{{- define "spoor.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The release's full name. Service names add up to 20 characters to it
("-collector-headless"), so it is cut to 43 to keep them DNS labels.
*/}}
{{- define "spoor.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 43 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 43 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 43 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "spoor.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels of every object; "component" is given by the caller. */}}
{{- define "spoor.labels" -}}
{{- $root := .root -}}
helm.sh/chart: {{ include "spoor.chart" $root }}
{{ include "spoor.selectorLabels" . }}
app.kubernetes.io/version: {{ $root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ $root.Release.Service }}
app.kubernetes.io/part-of: spoor
{{- with $root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Labels that select a component's pods. */}}
{{- define "spoor.selectorLabels" -}}
app.kubernetes.io/name: {{ include "spoor.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "spoor.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "spoor.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "spoor.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/*
The pods the receivers' Services select: the all-in-one pod, or the
collectors in distributed mode.
*/}}
{{- define "spoor.collectorComponent" -}}
{{- if eq .Values.mode "distributed" -}}collector{{- else -}}all-in-one{{- end -}}
{{- end -}}

{{/*
Distributed mode: the object storage every role reads or writes (env of
the role's container). The URL is required; credentials come from an
existing Secret, or from the pod's identity when there is none.
*/}}
{{- define "spoor.objectStoreEnv" -}}
{{- $d := .Values.distributed -}}
- name: SPOOR_BLOCKS_URL
  value: {{ required "distributed.blocksUrl is required with mode: distributed (s3://BUCKET/PREFIX?endpoint=...&region=..., gs://BUCKET/PREFIX or az://CONTAINER/PREFIX?account=...)" $d.blocksUrl | quote }}
{{- with $d.s3.region }}
- name: AWS_REGION
  value: {{ . | quote }}
{{- end }}
{{- with $d.s3.existingSecret }}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef: { name: {{ . | quote }}, key: AWS_ACCESS_KEY_ID }
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef: { name: {{ . | quote }}, key: AWS_SECRET_ACCESS_KEY }
{{- end }}
{{- end -}}

{{/*
Spoor's YAML config file for the collectors: the chart's part, with
distributed.collector.config merged over it.
*/}}
{{- define "spoor.collectorConfig" -}}
{{- $c := .Values.distributed.collector -}}
{{- $config := dict "version" 1 -}}
{{- if $c.samplingStrategies -}}
{{- $_ := set $config "sampling" (dict "strategies" "/etc/spoor/strategies.json") -}}
{{- end -}}
{{- toYaml (mergeOverwrite $config (deepCopy $c.config)) -}}
{{- end -}}

{{/*
Spoor's YAML config file (docs/configuration.md) for the all-in-one pod:
what the chart sets, with allInOne.config merged over it.
*/}}
{{- define "spoor.allInOneConfig" -}}
{{- $s := .Values.allInOne.storage -}}
{{- $storage := dict "backend" $s.backend -}}
{{- if eq $s.backend "engine" -}}
{{- $_ := set $storage "data_dir" "/var/lib/spoor" -}}
{{- $_ := set $storage "retention" $s.retention -}}
{{- else -}}
{{- $_ := set $storage "max_traces" $s.maxTraces -}}
{{- end -}}
{{- $config := dict "version" 1 "host" "0.0.0.0" "storage" $storage -}}
{{- if .Values.allInOne.samplingStrategies -}}
{{- $_ := set $config "sampling" (dict "strategies" "/etc/spoor/strategies.json") -}}
{{- end -}}
{{- toYaml (mergeOverwrite $config (deepCopy .Values.allInOne.config)) -}}
{{- end -}}
