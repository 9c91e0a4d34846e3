package devserver

import (
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"

	"github.com/namiml/mparticle-bridge/shared/devtools/samlocal"
	"github.com/namiml/mparticle-bridge/shared/testkit/templatecheck"
)

// SAMEnvFile is the file in the state folder that `make dev` writes for
// `sam local invoke --env-vars`, and removes when it stops.
const SAMEnvFile = "sam-env.json"

// ContainerHost is the name a Docker container reaches the machine it runs on by. Docker
// Desktop defines it; on Linux `sam local invoke --add-host` maps it.
const ContainerHost = "host.docker.internal"

// EnvAWSEndpoint is the AWS SDK's variable for one endpoint for every service.
const EnvAWSEndpoint = "AWS_ENDPOINT_URL"

// SAMEnv is the --env-vars file of `sam local invoke` for a stack running locally: by the
// template's logical function id, the variables the template declares for that function,
// with the values the local stack gives them, as seen from inside a container. Only declared
// variables are listed because SAM passes a function nothing else from the file, so anything
// more would look like configuration and silently not be. For the same reason
// awsEndpoint is used only if the template declares AWS_ENDPOINT_URL.
func SAMEnv(template []byte, loc samlocal.Locals, awsEndpoint string) (map[string]map[string]string, error) {
	raw, err := templatecheck.Parse(template)
	if err != nil {
		return nil, err
	}
	tpl, err := samlocal.Parse(template)
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]string{}
	for _, id := range raw.ResourcesOfType(serverlessFunction) {
		fn, err := tpl.Function(id, loc)
		if err != nil {
			return nil, err
		}
		vars := make(map[string]string, len(fn.Env))
		for name, v := range fn.Env {
			vars[name] = ContainerValue(v)
		}
		if _, declared := vars[EnvAWSEndpoint]; declared {
			vars[EnvAWSEndpoint] = ContainerValue(awsEndpoint)
		}
		out[id] = vars
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("the template has no %s", serverlessFunction)
	}
	return out, nil
}

const serverlessFunction = "AWS::Serverless::Function"

// ContainerValue rewrites a URL on this machine's loopback to ContainerHost, since a
// container's own loopback is not this machine's. Anything else is returned as it is.
func ContainerValue(v string) string {
	u, err := url.Parse(v)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return v
	}
	switch u.Hostname() {
	case "127.0.0.1", "localhost", "::1":
	default:
		return v
	}
	port := u.Port()
	u.Host = ContainerHost
	if port != "" {
		u.Host = net.JoinHostPort(ContainerHost, port)
	}
	return u.String()
}

// writeSAMEnv writes the file at path: no secrets in it (names, URLs, settings), so it is
// readable like stack.json.
func writeSAMEnv(path string, env map[string]map[string]string) error {
	data, err := json.MarshalIndent(env, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
