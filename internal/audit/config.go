package audit

import "github.com/evolution-todo/todo/internal/service"

// Config is audit-service's configuration, read from the environment once.
type Config struct {
	service.Common   // APP_ADDR (default :8091), DAPR_*, APP_API_TOKEN, PUBSUB_NAME, LOG_*, ...
	service.Database // DATABASE_URL
}

// LoadConfig reads the configuration from environ (config.Environ() outside
// tests); the error lists every bad variable.
func LoadConfig(environ map[string]string) (Config, error) {
	c := Config{Common: service.Common{AppAddr: ":8091"}}
	err := service.Load(&c, environ)
	return c, err
}

// Run runs audit-service until ctx ends (service.Main's run function).
var Run = service.App("audit-service", LoadConfig, New)
