<?php

declare(strict_types=1);

namespace Phpsessd;

/**
 * The daemon did not accept a request or send its reply in time. The socket is
 * closed afterwards, since a late reply would otherwise be read by the next
 * exchange.
 */
final class TimeoutException extends ProtocolException
{
}
