{{/* Chart name, truncated to the 63 characters a label value allows. */}}
{{- define "ferry.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name: release-chart, or the release name alone when it contains the chart name. */}}
{{- define "ferry.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "ferry.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ferry.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "ferry.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "ferry.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: node-agent
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "ferry.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "ferry.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "ferry.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/*
The config file exactly as it goes into the ConfigMap: config.raw verbatim when it
is a string, as YAML when it is a map, otherwise the structured keys.
*/}}
{{- define "ferry.configFile" -}}
{{- $raw := .Values.config.raw -}}
{{- if kindIs "string" $raw -}}
{{- if $raw -}}
{{- $raw -}}
{{- else -}}
{{- toYaml (omit .Values.config "raw") -}}
{{- end -}}
{{- else -}}
{{- toYaml $raw -}}
{{- end -}}
{{- end -}}

{{/*
The effective config as a map (JSON-encoded, for fromJson), so that the pod spec
and RBAC follow the config the agent really reads, raw override included.
*/}}
{{- define "ferry.configMap" -}}
{{- $cfg := fromYaml (include "ferry.configFile" .) -}}
{{- if hasKey $cfg "Error" -}}
{{- fail (printf "config.raw: not valid YAML: %s" (get $cfg "Error")) -}}
{{- end -}}
{{- toJson $cfg -}}
{{- end -}}

{{/* The HTTP port, from http.listen (":2020", "0.0.0.0:2020"). */}}
{{- define "ferry.httpPort" -}}
{{- $cfg := fromJson (include "ferry.configMap" .) -}}
{{- $listen := dig "http" "listen" ":2020" $cfg | toString -}}
{{- $port := regexReplaceAll "^.*:" $listen "" -}}
{{- if not (regexMatch "^[0-9]{1,5}$" $port) -}}
{{- fail (printf "config http.listen %q: want host:port with a numeric port" $listen) -}}
{{- end -}}
{{- $port -}}
{{- end -}}

{{- define "ferry.stateDir" -}}
{{- $cfg := fromJson (include "ferry.configMap" .) -}}
{{- dig "state_dir" "/var/lib/ferry" $cfg -}}
{{- end -}}

{{- define "ferry.kubernetesEnabled" -}}
{{- $cfg := fromJson (include "ferry.configMap" .) -}}
{{- if dig "kubernetes" "enabled" true $cfg -}}true{{- end -}}
{{- end -}}

{{- define "ferry.namespaceLabels" -}}
{{- $cfg := fromJson (include "ferry.configMap" .) -}}
{{- if dig "kubernetes" "namespace_labels" false $cfg -}}true{{- end -}}
{{- end -}}

{{/*
shutdown_timeout in whole seconds (rounded up), from a Go duration such as
20s, 1m30s or 1.5m; terminationGracePeriodSeconds must exceed it.
*/}}
{{- define "ferry.shutdownSeconds" -}}
{{- $cfg := fromJson (include "ferry.configMap" .) -}}
{{- $d := dig "shutdown_timeout" "20s" $cfg | toString -}}
{{- $part := "[0-9]+(\\.[0-9]*)?(h|ms|us|µs|ns|m|s)" -}}
{{- if not (regexMatch (printf "^(%s)+$" $part) $d) -}}
{{- fail (printf "config shutdown_timeout %q: not a Go duration (e.g. 20s, 1m30s)" $d) -}}
{{- end -}}
{{- $unit := dict "h" 3600.0 "m" 60.0 "s" 1.0 "ms" 0.001 "us" 0.000001 "µs" 0.000001 "ns" 0.000000001 -}}
{{- $sec := 0.0 -}}
{{- range regexFindAll $part $d -1 -}}
{{- $n := regexFind "^[0-9.]+" . -}}
{{- $sec = addf $sec (mulf (float64 $n) (get $unit (trimPrefix $n .))) -}}
{{- end -}}
{{- ceil $sec | int -}}
{{- end -}}

{{/* Render-time checks that the schema cannot express. */}}
{{- define "ferry.validate" -}}
{{- if and .Values.metrics.serviceMonitor.enabled .Values.metrics.podMonitor.enabled -}}
{{- fail "metrics.serviceMonitor.enabled and metrics.podMonitor.enabled: choose one, or every agent is scraped twice" -}}
{{- end -}}
{{- with .Values.updateStrategy.rollingUpdate -}}
{{- $zero := list "0" "0%" -}}
{{- $unavailable := ternary (toString .maxUnavailable) "1" (hasKey . "maxUnavailable") -}}
{{- $surge := ternary (toString .maxSurge) "0" (hasKey . "maxSurge") -}}
{{- if and (has $unavailable $zero) (has $surge $zero) -}}
{{- fail "updateStrategy.rollingUpdate.maxUnavailable: cannot be 0 when maxSurge is 0 (no agent could ever be replaced)" -}}
{{- end -}}
{{- end -}}
{{- $cfg := fromJson (include "ferry.configMap" .) -}}
{{- $grace := int .Values.terminationGracePeriodSeconds -}}
{{- $shutdown := include "ferry.shutdownSeconds" . | atoi -}}
{{- if le $grace $shutdown -}}
{{- fail (printf "terminationGracePeriodSeconds (%d) must exceed config shutdown_timeout (%ds), or kubelet kills the agent before it has flushed and committed" $grace $shutdown) -}}
{{- end -}}
{{- $sink := dig "sink" dict $cfg -}}
{{- $kafka := dig "kafka" dict $sink -}}
{{- if not (or (hasKey $sink "file") (hasKey $sink "stdout")) -}}
{{- if not (dig "brokers" list $kafka) -}}
{{- fail "config.sink.kafka.brokers: no Kafka broker set; name at least one bootstrap broker (host:port), e.g. --set 'config.sink.kafka.brokers={kafka-0.kafka:9092}' (with config.raw: sink.kafka.brokers in it)" -}}
{{- end -}}
{{- end -}}
{{- $sasl := dig "sasl" dict $kafka -}}
{{- if and (dig "mechanism" "" $sasl) (not .Values.kafka.passwordSecret.name) -}}
{{- fail "kafka.passwordSecret.name is required when config.sink.kafka.sasl.mechanism is set" -}}
{{- end -}}
{{- $pw := dig "password" "" $sasl | toString -}}
{{- if and $pw (not (regexMatch "^\\$\\{[A-Za-z_][A-Za-z0-9_]*\\}$" $pw)) -}}
{{- fail "config.sink.kafka.sasl.password: must be a ${VAR} reference (e.g. ${KAFKA_PASSWORD}, from kafka.passwordSecret), never the password itself: the ConfigMap is readable" -}}
{{- end -}}
{{- $tls := dig "tls" dict $kafka -}}
{{- range $k := list "ca_file" "cert_file" "key_file" -}}
{{- $f := dig $k "" $tls | toString -}}
{{- if and $f (hasPrefix (printf "%s/" (trimSuffix "/" $.Values.kafka.tlsSecret.mountPath)) $f) (not $.Values.kafka.tlsSecret.name) -}}
{{- fail (printf "config.sink.kafka.tls.%s points into %s but kafka.tlsSecret.name is empty" $k $.Values.kafka.tlsSecret.mountPath) -}}
{{- end -}}
{{- end -}}
{{- end -}}
