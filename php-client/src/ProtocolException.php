<?php

declare(strict_types=1);

namespace Phpsessd;

/**
 * A failed exchange with the daemon: the connection broke, a reply was
 * malformed, or a frame could not be sent.
 *
 * Thrown inside SessionHandler only; its public methods catch it, close the
 * socket when its state is unknown, and turn it into an E_USER_WARNING and a
 * false return value. The subclasses say which failure it was.
 */
class ProtocolException extends \RuntimeException
{
}
