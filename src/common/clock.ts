import { Injectable } from '@nestjs/common';

/** The time, as a port, so tests can move it (backoff, expiry) without sleeping. */
@Injectable()
export class Clock {
  now(): Date {
    return new Date();
  }
}
