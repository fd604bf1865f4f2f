package main

import (
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// KEDA's custom resources (keda.sh/v1alpha1), the part of their schema this
// project uses, written out here so that the check needs neither KEDA's Go
// module (with every cloud SDK it pulls in) nor its CRD schemas from the
// network. Decoded strictly like the built-in kinds: a field that is not
// here fails, so add it here first when keda.yaml needs more of KEDA.
// Reference: https://keda.sh/docs/latest/reference/scaledobject-spec/

type scaledObject struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              scaledObjectSpec `json:"spec"`
}

type scaledObjectSpec struct {
	ScaleTargetRef        *scaleTarget `json:"scaleTargetRef"`
	PollingInterval       *int32       `json:"pollingInterval,omitempty"`
	InitialCooldownPeriod *int32       `json:"initialCooldownPeriod,omitempty"`
	CooldownPeriod        *int32       `json:"cooldownPeriod,omitempty"`
	IdleReplicaCount      *int32       `json:"idleReplicaCount,omitempty"`
	MinReplicaCount       *int32       `json:"minReplicaCount,omitempty"`
	MaxReplicaCount       *int32       `json:"maxReplicaCount,omitempty"`
	Advanced              *advanced    `json:"advanced,omitempty"`
	Triggers              []trigger    `json:"triggers"`
	Fallback              *fallback    `json:"fallback,omitempty"`
}

type scaleTarget struct {
	Name                   string `json:"name"`
	APIVersion             string `json:"apiVersion,omitempty"`
	Kind                   string `json:"kind,omitempty"`
	EnvSourceContainerName string `json:"envSourceContainerName,omitempty"`
}

type advanced struct {
	HorizontalPodAutoscalerConfig *hpaConfig        `json:"horizontalPodAutoscalerConfig,omitempty"`
	RestoreToOriginalReplicaCount bool              `json:"restoreToOriginalReplicaCount,omitempty"`
	ScalingModifiers              *scalingModifiers `json:"scalingModifiers,omitempty"`
}

type hpaConfig struct {
	Name     string                                         `json:"name,omitempty"`
	Behavior *autoscalingv2.HorizontalPodAutoscalerBehavior `json:"behavior,omitempty"`
}

type scalingModifiers struct {
	Formula          string                         `json:"formula,omitempty"`
	Target           string                         `json:"target,omitempty"`
	ActivationTarget string                         `json:"activationTarget,omitempty"`
	MetricType       autoscalingv2.MetricTargetType `json:"metricType,omitempty"`
}

type fallback struct {
	FailureThreshold int32  `json:"failureThreshold"`
	Replicas         int32  `json:"replicas"`
	Behavior         string `json:"behavior,omitempty"`
}

type trigger struct {
	Type              string                         `json:"type"`
	Name              string                         `json:"name,omitempty"`
	UseCachedMetrics  bool                           `json:"useCachedMetrics,omitempty"`
	Metadata          map[string]string              `json:"metadata"`
	AuthenticationRef *authenticationRef             `json:"authenticationRef,omitempty"`
	MetricType        autoscalingv2.MetricTargetType `json:"metricType,omitempty"`
}

type authenticationRef struct {
	Name string `json:"name"`
	Kind string `json:"kind,omitempty"` // TriggerAuthentication (default) or ClusterTriggerAuthentication
}

type triggerAuthentication struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              triggerAuthenticationSpec `json:"spec"`
}

type triggerAuthenticationSpec struct {
	SecretTargetRef []authSecretTarget `json:"secretTargetRef,omitempty"`
	Env             []authEnvironment  `json:"env,omitempty"`
	PodIdentity     *authPodIdentity   `json:"podIdentity,omitempty"`
}

type authSecretTarget struct {
	Parameter string `json:"parameter"`
	Name      string `json:"name"`
	Key       string `json:"key"`
}

type authEnvironment struct {
	Parameter     string `json:"parameter"`
	Name          string `json:"name"`
	ContainerName string `json:"containerName,omitempty"`
}

type authPodIdentity struct {
	Provider   string  `json:"provider"`
	IdentityID *string `json:"identityId,omitempty"`
	RoleArn    *string `json:"roleArn,omitempty"`
}

// The metadata keys of KEDA's redis scaler (metadata is a free map in the
// CRD, so a misspelt key would be ignored silently by the API server).
var redisTriggerKeys = map[string]bool{
	"address": true, "addressFromEnv": true, "host": true, "hostFromEnv": true, "port": true, "portFromEnv": true,
	"usernameFromEnv": true, "passwordFromEnv": true, "databaseIndex": true, "enableTLS": true, "unsafeSsl": true,
	"listName": true, "listLength": true, "activationListLength": true,
}

// The metadata keys of KEDA's redis-sentinel scaler (for REDIS_URL
// redis-sentinel://): the list keys above, with the Sentinels' addresses.
var redisSentinelTriggerKeys = map[string]bool{
	"addresses": true, "addressesFromEnv": true, "hosts": true, "hostsFromEnv": true, "ports": true, "portsFromEnv": true,
	"sentinelMaster": true, "sentinelMasterFromEnv": true, "sentinelUsernameFromEnv": true, "sentinelPasswordFromEnv": true,
	"usernameFromEnv": true, "passwordFromEnv": true, "databaseIndex": true, "enableTLS": true, "unsafeSsl": true,
	"listName": true, "listLength": true, "activationListLength": true,
}

// The parameters a TriggerAuthentication may give the redis scaler.
var redisAuthParams = map[string]bool{
	"address": true, "host": true, "port": true, "username": true, "password": true,
	"tls": true, "ca": true, "cert": true, "key": true, "keyPassword": true,
	"addresses": true, "hosts": true, "ports": true, "sentinelUsername": true, "sentinelPassword": true, "sentinelMaster": true,
}
