// Package metrics exposes bosun's Prometheus metrics, with Kubernetes'
// metric names where Kubernetes has the same measurement, so dashboards
// and alerts written for Kubernetes read bosun's too.
//
// There is no global registry of bosun's own: each process makes one
// Registry (NewRegistry) and hands it to the components it runs, each of
// which registers its collectors on it (apiserver, sync, the controllers'
// work queues through WorkqueueProvider, the scheduler, the node agent,
// the service proxy). Handler serves the registry as /metrics in the
// Prometheus text format, together with Go runtime and process metrics
// and, in a server, the embedded etcd's own metrics (etcd registers
// those with the Prometheus client's default registry itself).
//
// The metrics, by component:
//
//	apiserver   apiserver_request_total{verb,group,version,resource,subresource,code}
//	            apiserver_request_duration_seconds{verb,group,version,resource,subresource}
//	workqueues  workqueue_depth, workqueue_adds_total, workqueue_queue_duration_seconds,
//	            workqueue_work_duration_seconds, workqueue_retries_total,
//	            workqueue_unfinished_work_seconds, workqueue_longest_running_processor_seconds {name}
//	scheduler   scheduler_schedule_attempts_total{result}, scheduler_scheduling_attempt_duration_seconds{result},
//	            scheduler_pending_pods{queue}
//	sync        bosun_sync_total{result}, bosun_sync_duration_seconds{result},
//	            bosun_sync_objects_total{op}, bosun_sync_last_applied_timestamp_seconds
//	agent       kubelet_pod_start_duration_seconds, kubelet_running_pods, kubelet_running_containers,
//	            prober_probe_total{probe_type,result}
//	proxy       kubeproxy_sync_proxy_rules_duration_seconds, kubeproxy_sync_proxy_rules_last_timestamp_seconds,
//	            bosun_proxy_syncs_total{mode,kind,result}
//	events      bosun_events_dropped_total{component}
//
// A server serves them at GET /metrics on the API port, an agent on its
// agent port (10250); both to members of system:masters only, as
// Kubernetes serves /metrics to privileged identities.
package metrics
