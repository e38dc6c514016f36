/** A setting that is missing or wrong: the CLI prints it as `error: ...` and exits 2. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}
