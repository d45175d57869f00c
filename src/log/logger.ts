import { pino, type Logger } from 'pino';

/** JSON logs; credentials and tokens are censored wherever a careless field might carry them. */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'profile-irsa-webhook' },
      redact: {
        paths: [
          '*.authorization',
          '*.Authorization',
          '*.headers.authorization',
          '*.credentials',
          '*.secretAccessKey',
          '*.sessionToken',
          '*.token',
          'err.config',
          'err.$response',
        ],
        censor: '[redacted]',
      },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}
