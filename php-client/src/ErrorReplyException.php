<?php

declare(strict_types=1);

namespace Phpsessd;

/**
 * The daemon answered with an error status and its message.
 */
final class ErrorReplyException extends ProtocolException
{
    /**
     * @param int    $status    the reply's status code (a Protocol constant, never OK)
     * @param string $reason    the daemon's human-readable message
     * @param int    $requestId the reply's request id; 0 when the daemon could
     *                          not read the offending frame's id
     */
    public function __construct(
        public readonly int $status,
        public readonly string $reason,
        public readonly int $requestId,
    ) {
        parent::__construct(sprintf(
            'daemon replied %s (%d)%s',
            Protocol::statusName($status),
            $status,
            $reason === '' ? '' : ': ' . $reason,
        ));
    }
}
