import { Body, Controller, Get, HttpCode, Logger, Module, Param, Post } from '@nestjs/common';
import { IsInt, IsOptional, IsString, Max, Min } from 'class-validator';
import { RequireScope } from '../../src/common/auth/auth.decorators';
import { AppError } from '../../src/common/errors/app-error';
import { Idempotent } from '../../src/common/idempotency/idempotency.interceptor';

export class ProbeDto {
  @IsInt()
  @Min(1)
  @Max(100)
  amount!: number;

  @IsOptional()
  @IsString()
  note?: string;
}

/** Shared, observable state of the probe routes for one test file. */
export const probeState = {
  runs: 0,
  /** When set, `POST /probe/slow` waits for it before answering. */
  gate: undefined as Promise<void> | undefined,
  reset(): void {
    this.runs = 0;
    this.gate = undefined;
  },
};

/** Test-only routes that exercise the cross-cutting machinery (auth, errors, idempotency, logs). */
@Controller('probe')
class ProbeController {
  private readonly logger = new Logger('Probe');

  @Post('payments')
  @RequireScope('payments')
  @Idempotent()
  async create(@Body() dto: ProbeDto): Promise<{ id: string; amount: number; run: number }> {
    probeState.runs += 1;
    const run = probeState.runs;
    if (probeState.gate) await probeState.gate;
    if (dto.note === 'decline')
      throw new AppError('card_declined', 'the card was declined', [
        { declineCode: 'generic_decline' },
      ]);
    if (dto.note === 'boom') throw new Error('database password=hunter2 exploded');
    if (dto.note === 'unavailable') throw new AppError('provider_unavailable', 'provider down');
    return { id: `prb_${run}`, amount: dto.amount, run };
  }

  @Post('accepted')
  @HttpCode(202)
  @RequireScope('sms')
  @Idempotent()
  accepted(@Body() dto: ProbeDto): { amount: number; run: number } {
    probeState.runs += 1;
    return { amount: dto.amount, run: probeState.runs };
  }

  @Get('admin')
  @RequireScope('admin')
  admin(): { ok: true } {
    return { ok: true };
  }

  @Get('crash')
  crash(): never {
    throw new TypeError("Cannot read properties of undefined (reading 'secret')");
  }

  @Get('log/:value')
  log(@Param('value') value: string): { ok: true } {
    this.logger.log({ value, to: '+15551234567', email: 'jane.doe@example.com' }, 'probe log line');
    return { ok: true };
  }
}

@Module({ controllers: [ProbeController] })
export class ProbeModule {}
