// Package webhook receives push notifications from Git forges (GitHub, Gitea,
// GitLab, or a plain curl) and turns them into a "fetch now" signal.
//
// The handler never fetches itself: trigger only wakes the poller, which then
// calls gitsource.Source.Fetch. Notifications carry no state that is trusted; a
// forged or replayed request can at worst cause an extra fetch, and a secret
// (HMAC signature or GitLab token) keeps strangers from even doing that.
// Without a secret anyone who reaches the endpoint can trigger fetches, so
// the handler takes pushes only on loopback addresses (the connection's
// local address), answering 403 elsewhere; CheckListener says whether a
// listen address reaches other machines. A token bucket
// (Config.Rate, Config.Burst) bounds the requests handled, before their
// body is read: beyond it the answer is 429 with Retry-After.
//
// Example:
//
//	wake := make(chan struct{}, 1)
//	trigger := func() {
//		select {
//		case wake <- struct{}{}:
//		default: // a fetch is already pending
//		}
//	}
//	if err := webhook.CheckListener(secret, listenAddr); err != nil {
//		logger.Warn("webhook takes pushes on loopback only", "why", err)
//	}
//	mux := http.NewServeMux()
//	mux.Handle(webhook.Path, webhook.New(webhook.Config{Secret: secret, Trigger: trigger, Logger: logger}))
//
// and configure the forge to POST to https://<host>/hooks/git with the same
// secret, or test it by hand:
//
//	curl -X POST -H "X-Gitlab-Token: $SECRET" https://<host>/hooks/git
package webhook
