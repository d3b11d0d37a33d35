package notifier

import "github.com/evolution-todo/todo/internal/service"

// Config is notification-service's configuration, read from the
// environment once.
type Config struct {
	service.Common        // APP_ADDR (default :8094), DAPR_*, APP_API_TOKEN, PUBSUB_NAME, LOG_*, ...
	StateStore     string `env:"STATE_STORE_NAME" envDefault:"statestore"` // Dapr state store of the inboxes
}

// LoadConfig reads the configuration from environ (config.Environ() outside
// tests); the error lists every bad variable.
func LoadConfig(environ map[string]string) (Config, error) {
	c := Config{Common: service.Common{AppAddr: ":8094"}}
	err := service.Load(&c, environ)
	return c, err
}

// Run runs notification-service until ctx ends (service.Main's run function).
var Run = service.App("notification-service", LoadConfig, New)
