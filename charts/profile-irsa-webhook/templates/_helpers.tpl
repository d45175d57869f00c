{{/*
Expand the name of the chart.
*/}}
{{- define "profile-irsa-webhook.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Create a default fully qualified app name.
We truncate at 63 chars because some Kubernetes name fields are limited to this (by the DNS naming spec).
If release name contains chart name it will be used as a full name.
*/}}
{{- define "profile-irsa-webhook.fullname" -}}
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
Create chart name and version as used by the chart label.
*/}}
{{- define "profile-irsa-webhook.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels
*/}}
{{- define "profile-irsa-webhook.labels" -}}
helm.sh/chart: {{ include "profile-irsa-webhook.chart" . }}
{{ include "profile-irsa-webhook.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: admission-webhook
app.kubernetes.io/part-of: kubeflow
{{- end }}

{{/*
Selector labels
*/}}
{{- define "profile-irsa-webhook.selectorLabels" -}}
app.kubernetes.io/name: {{ include "profile-irsa-webhook.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Create the name of the service account to use
*/}}
{{- define "profile-irsa-webhook.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "profile-irsa-webhook.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The container image reference (digest wins over tag; tag defaults to appVersion).
*/}}
{{- define "profile-irsa-webhook.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
The three required values, with a message that says what each one is. The schema refuses
empty strings too; this is the backstop when the schema is skipped (--skip-schema-validation).
And the permissions boundary that provision mode needs unless explicitly waived.
*/}}
{{- define "profile-irsa-webhook.validateRequired" -}}
{{- $_ := required "clusterName is required: the EKS cluster name (--set clusterName=...)" .Values.clusterName }}
{{- $_ := required "region is required: the cluster's AWS region, e.g. us-east-1 (--set region=...)" .Values.region }}
{{- $_ := required "s3Bucket is required: the Kubeflow Pipelines S3 bucket (--set s3Bucket=...)" .Values.s3Bucket }}
{{- /* With the configurations alone, no pod of this release creates roles. */}}
{{- if and (eq .Values.mode "provision") (not .Values.permissionsBoundary) (not .Values.allowNoBoundary) (not .Values.webhook.configurationsOnly) }}
{{- fail "permissionsBoundary is required in provision mode: without a boundary, stolen webhook credentials can take over any untagged role under rolePath. Create the policy with `profile-irsa-webhook iam-policy --boundary` and --set permissionsBoundary=<its ARN> (chart README, Install), or waive it with --set allowNoBoundary=true" }}
{{- end }}
{{- end }}

{{/*
Service DNS names the serving certificate must carry.
*/}}
{{- define "profile-irsa-webhook.serviceDnsNames" -}}
{{- $svc := include "profile-irsa-webhook.fullname" . }}
{{- $ns := .Release.Namespace }}
{{- list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.cluster.local" $svc $ns) | toJson }}
{{- end }}

{{/*
Name of the Secret holding the serving certificate (tls.crt, tls.key).
*/}}
{{- define "profile-irsa-webhook.tlsSecretName" -}}
{{- if eq .Values.tls.mode "secret" }}
{{- required "tls.existingSecret is required when tls.mode is secret" .Values.tls.existingSecret }}
{{- else }}
{{- printf "%s-tls" (include "profile-irsa-webhook.fullname" .) }}
{{- end }}
{{- end }}

{{/*
Name of the cert-manager Certificate that serves the webhook (target of inject-ca-from).
*/}}
{{- define "profile-irsa-webhook.servingCertificateName" -}}
{{- printf "%s-serving" (include "profile-irsa-webhook.fullname" .) }}
{{- end }}

{{/*
The generated TLS material for tls.mode=generated, as a dict with base64 values
{ca.crt, ca.key, tls.crt, tls.key}. Computed once per render and cached in the root context,
so the Secret and both webhook configurations see the same CA.
- The existing Secret (lookup) is reused as is when it has ca.crt, tls.crt and tls.key: the
  caBundle then stays the same across upgrades.
- tls.generated.renew=true issues a new serving certificate from the existing CA (needs ca.key).
- Otherwise a new CA and serving certificate are generated.
*/}}
{{- define "profile-irsa-webhook.generatedTls" -}}
{{- if not (hasKey $ "profileIrsaWebhookTls") }}
{{- $secretName := include "profile-irsa-webhook.tlsSecretName" . }}
{{- $existing := lookup "v1" "Secret" .Release.Namespace $secretName }}
{{- $data := dict }}
{{- if and $existing $existing.data }}
{{- $data = $existing.data }}
{{- end }}
{{- $dnsNames := include "profile-irsa-webhook.serviceDnsNames" . | fromJsonArray }}
{{- $cn := index $dnsNames 2 }}
{{- $out := dict }}
{{- $reusable := and (hasKey $data "ca.crt") (hasKey $data "tls.crt") (hasKey $data "tls.key") }}
{{- if and $reusable (not .Values.tls.generated.renew) }}
{{- $out = dict "ca.crt" (index $data "ca.crt") "tls.crt" (index $data "tls.crt") "tls.key" (index $data "tls.key") }}
{{- if hasKey $data "ca.key" }}
{{- $_ := set $out "ca.key" (index $data "ca.key") }}
{{- end }}
{{- else if and $reusable (hasKey $data "ca.key") }}
{{- $ca := buildCustomCert (index $data "ca.crt") (index $data "ca.key") }}
{{- $cert := genSignedCert $cn nil $dnsNames (int .Values.tls.generated.certValidityDays) $ca }}
{{- $out = dict "ca.crt" (index $data "ca.crt") "ca.key" (index $data "ca.key") "tls.crt" ($cert.Cert | b64enc) "tls.key" ($cert.Key | b64enc) }}
{{- else }}
{{- $ca := genCA (printf "%s-ca" (include "profile-irsa-webhook.fullname" .)) (int .Values.tls.generated.caValidityDays) }}
{{- $cert := genSignedCert $cn nil $dnsNames (int .Values.tls.generated.certValidityDays) $ca }}
{{- $out = dict "ca.crt" ($ca.Cert | b64enc) "ca.key" ($ca.Key | b64enc) "tls.crt" ($cert.Cert | b64enc) "tls.key" ($cert.Key | b64enc) }}
{{- end }}
{{- $_ := set $ "profileIrsaWebhookTls" $out }}
{{- end }}
{{- index $ "profileIrsaWebhookTls" | toJson }}
{{- end }}

{{/*
The caBundle (base64 PEM) both webhook configurations carry; empty for certManager (injected).
*/}}
{{- define "profile-irsa-webhook.caBundle" -}}
{{- if .Values.webhook.caBundle }}
{{- .Values.webhook.caBundle }}
{{- else if .Values.webhook.url }}
{{- fail "webhook.caBundle is required with webhook.url: the base64 PEM CA that signed the local webhook's certificate" }}
{{- else if and .Values.webhook.configurationsOnly (ne .Values.tls.mode "certManager") }}
{{- fail "webhook.caBundle is required with webhook.configurationsOnly: no Secret is rendered, so the configurations need the CA of the webhook they call" }}
{{- else if eq .Values.tls.mode "generated" }}
{{- index (include "profile-irsa-webhook.generatedTls" . | fromJson) "ca.crt" }}
{{- else if eq .Values.tls.mode "secret" }}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "profile-irsa-webhook.tlsSecretName" .) }}
{{- if and $existing $existing.data (hasKey $existing.data "ca.crt") }}
{{- index $existing.data "ca.crt" }}
{{- else }}
{{- fail (printf "webhook.caBundle is required with tls.mode=secret: the base64 PEM CA that signed Secret %s (it has no ca.crt, or the cluster cannot be reached)" (include "profile-irsa-webhook.tlsSecretName" .)) }}
{{- end }}
{{- end }}
{{- end }}

{{/*
clientConfig of a webhook; arg: dict "root" $ "path" "/mutate".
*/}}
{{- define "profile-irsa-webhook.clientConfig" -}}
{{- $root := .root }}
{{- if $root.Values.webhook.url }}
url: {{ printf "%s%s" (trimSuffix "/" $root.Values.webhook.url) .path | quote }}
{{- else }}
service:
  name: {{ include "profile-irsa-webhook.fullname" $root }}
  namespace: {{ $root.Release.Namespace }}
  path: {{ .path | quote }}
  port: {{ $root.Values.service.port }}
{{- end }}
{{- $caBundle := include "profile-irsa-webhook.caBundle" $root }}
{{- if $caBundle }}
caBundle: {{ $caBundle }}
{{- end }}
{{- end }}

{{/*
Annotations of both webhook configurations.
*/}}
{{- define "profile-irsa-webhook.webhookAnnotations" -}}
{{- $ann := dict }}
{{- if and (eq .Values.tls.mode "certManager") (not .Values.webhook.url) (not .Values.webhook.caBundle) }}
{{- $_ := set $ann "cert-manager.io/inject-ca-from" (printf "%s/%s" .Release.Namespace (include "profile-irsa-webhook.servingCertificateName" .)) }}
{{- end }}
{{- with .Values.webhook.annotations }}
{{- $ann = merge $ann . }}
{{- end }}
{{- if $ann }}
annotations:
  {{- toYaml $ann | nindent 2 }}
{{- end }}
{{- end }}

{{/*
The rule both webhooks match: kubeflow.org/v1 profiles (cluster-scoped), CREATE and UPDATE.
With matchPolicy Equivalent, requests for v1beta1 are converted to v1 and sent too.
*/}}
{{- define "profile-irsa-webhook.rules" -}}
- apiGroups: ["kubeflow.org"]
  apiVersions: ["v1"]
  resources: ["profiles"]
  operations: ["CREATE", "UPDATE"]
  scope: Cluster
{{- end }}

{{/*
matchConditions (CEL) of a webhook; arg: dict "root" $ "mutating" true|false.
The API server calls the webhooks only for a CREATE, or an UPDATE that changes spec.plugins:
Kubeflow's profile controller updates every Profile on every reconcile (and removes its finalizer
on deletion) without touching the plugins, and those updates must never wait on this webhook.
No plugins is one value however it is spelled (spec or spec.plugins absent, an empty list), as
in the webhook's own check (src/core/routine.ts); `has()` guards each side, and CREATE is decided
before oldObject (null on CREATE) is read. The mutating webhook is also skipped for a Profile
being deleted (it gets no role); the validating one still checks a plugin change then.
Rendered from Kubernetes 1.28 (beta, on by default; GA in 1.30). Older API servers get none:
they would drop the field, and the webhook answers those requests from the request alone anyway.
*/}}
{{- define "profile-irsa-webhook.matchConditions" -}}
{{- if semverCompare ">=1.28.0-0" .root.Capabilities.KubeVersion.Version }}
matchConditions:
  - name: create-or-plugins-change
    expression: >-
      request.operation == 'CREATE' ||
      (has(object.spec) && has(object.spec.plugins) ? object.spec.plugins : []) !=
      (has(oldObject.spec) && has(oldObject.spec.plugins) ? oldObject.spec.plugins : [])
{{- if .mutating }}
  - name: not-being-deleted
    expression: >-
      !has(object.metadata.deletionTimestamp) &&
      (oldObject == null || !has(oldObject.metadata.deletionTimestamp))
{{- end }}
{{- end }}
{{- end }}

{{/*
terminationGracePeriodSeconds: explicit, or preStop sleep + shutdown delay + longest webhook
timeout (request drain) + 5 seconds of margin.
*/}}
{{- define "profile-irsa-webhook.terminationGracePeriodSeconds" -}}
{{- if .Values.shutdown.terminationGracePeriodSeconds }}
{{- .Values.shutdown.terminationGracePeriodSeconds }}
{{- else }}
{{- $drain := max (int .Values.webhook.mutating.timeoutSeconds) (int .Values.webhook.validating.timeoutSeconds) }}
{{- add (int .Values.shutdown.preStopSleepSeconds) (int .Values.shutdown.delaySeconds) $drain 5 }}
{{- end }}
{{- end }}

{{/*
A map as a sorted, comma-separated key=value list (EXTRA_ROLE_TAGS).
*/}}
{{- define "profile-irsa-webhook.keyValueList" -}}
{{- $pairs := list }}
{{- range $k := keys . | sortAlpha }}
{{- $pairs = append $pairs (printf "%s=%s" $k (toString (index $ $k))) }}
{{- end }}
{{- join "," $pairs }}
{{- end }}

{{/*
accountId as the 12-digit string the binary reads, or empty when unset. `--set accountId=1234...`
gives Helm an integer and a values file gives it a float, which toString would print in
scientific notation; both are printed as plain digits. A number with fewer than 12 digits is an
account ID that started with 0 and lost it to YAML (or was read as octal): refused, since the
digits it had cannot be known.
*/}}
{{- define "profile-irsa-webhook.accountId" -}}
{{- $id := .Values.accountId }}
{{- if kindIs "string" $id }}
{{- $id }}
{{- else if not (kindIs "invalid" $id) }}
{{- $n := int64 $id }}
{{- if or (ne (float64 $n) (float64 $id)) (lt $n 100000000000) (gt $n 999999999999) }}
{{- fail (printf "accountId %d is not a 12-digit AWS account ID. An ID that starts with 0 loses its zeros (or is read as octal) when a values file gives it as a number: quote it (accountId: \"012345678901\"), or pass it with --set or --set-string" $n) }}
{{- end }}
{{- printf "%d" $n }}
{{- end }}
{{- end }}

{{/*
A duration of the binary's form (`1h`, `90m`, `1h30m`, `1.5h`, `500ms`) in seconds, for alert
thresholds derived from it.
*/}}
{{- define "profile-irsa-webhook.durationSeconds" -}}
{{- $total := 0.0 }}
{{- $units := dict "ms" 0.001 "s" 1.0 "m" 60.0 "h" 3600.0 }}
{{- range regexFindAll "[0-9]+(\\.[0-9]+)?(ms|s|m|h)" . -1 }}
{{- $unit := regexFind "(ms|s|m|h)$" . }}
{{- $total = addf $total (mulf (trimSuffix $unit . | float64) (get $units $unit)) }}
{{- end }}
{{- $total }}
{{- end }}
