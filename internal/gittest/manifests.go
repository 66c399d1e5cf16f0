package gittest

// Web is the Deployment a test repository holds in apps/web.yaml, written
// as a user writes it: comments on their own lines and after values, a
// quoted image, flow-style maps. It is "web" in the default namespace with
// 2 replicas (line 7) and one container "app" running bosun.local/hello:v1;
// the object starts on line 2. Tests derive the next commits with
// strings.Replace (e.g. "hello:v1" -> "hello:v2", "replicas: 2" ->
// "replicas: 5") and may append more containers.
const Web = `# The web application.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web   # keep in sync with the Service
spec:
  replicas: 2 # at least two
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: app
        image: "bosun.local/hello:v1"   # bumped by CI
`
