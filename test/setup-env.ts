// Every test process runs in UTC and in the `test` environment, whatever the shell says.
process.env.TZ = 'UTC';
process.env.NODE_ENV = 'test';
