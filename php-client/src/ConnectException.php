<?php

declare(strict_types=1);

namespace Phpsessd;

/**
 * The daemon could not be reached: an invalid address, nothing listening,
 * a refused or timed out connect.
 */
final class ConnectException extends ProtocolException
{
}
