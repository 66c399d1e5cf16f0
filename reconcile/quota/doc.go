// Package quota is bosun's ResourceQuota and LimitRange support: the
// ResourceQuota status controller (Controller) and the admission of pods
// controllers create (Admitter), as Kubernetes' resource quota controller
// and its LimitRanger and ResourceQuota admission plugins.
//
// The Controller writes each quota's status.hard (= spec.hard) and
// status.used for what it limits: pods and their compute resources (pods,
// count/pods, cpu, memory, ephemeral-storage, requests.*, limits.*,
// hugepages, extended resources), services, services.nodeports,
// services.loadbalancers, configmaps, secrets, replicationcontrollers,
// resourcequotas, persistentvolumeclaims, requests.storage and the per
// storage class variants, and count/<resource>[.<group>] of any namespaced
// kind. Pods that succeeded or failed, and pods terminating longer than
// their grace period past their deletionTimestamp, do not count (count/pods
// counts every stored pod), as in Kubernetes. Scopes Terminating,
// NotTerminating, BestEffort and NotBestEffort (in spec.scopes or
// spec.scopeSelector with Exists or DoesNotExist) restrict a quota to the
// matching pods; a quota with another scope (PriorityClass,
// CrossNamespacePodAffinity) is not enforced and gets a Warning Event
// saying so.
//
// The Admitter implements reconcile.PodAdmitter: it applies the namespace's
// LimitRanges to the pod (defaults, then min, max and maxLimitRequestRatio
// of Container and Pod items) and checks it against every matching quota,
// with kube-apiserver's messages ("exceeded quota: compute, requested:
// cpu=500m, used: cpu=1500m, limited: cpu=2"; "failed quota: compute: must
// specify limits.cpu for: app"). It counts usage from the pod cache, not
// from status.used, so it never waits for the Controller; a pod it admitted
// counts until the pod cache shows it (or ReservationTimeout passes), so
// controllers creating many pods at once cannot exceed a quota.
//
//	adm := quota.NewAdmitter(quota.AdmitterConfig{Informers: inf})
//	rs := replicaset.NewReplicaSets(replicaset.Config{..., Admit: adm})
//	qc := quota.New(quota.Config{Writer: st, Informers: inf, Recorder: rec})
//	inf.Start(ctx)
//	go qc.Run(ctx)
package quota
