# Managed by noops.platform.supervisor_config; edits are overwritten on the next deploy.
# noops-name: dch
# noops-backend: god
# noops-command: /home/work/dch/bin/run.sh --port 8080
# noops-version: 93043
# noops-reload-signal: USR2
# noops-stop-command: /home/work/dch/bin/stop.sh
# noops-log: /data/dch/log/dch.out
# noops-err-log: /data/dch/log/dch.err
# noops-crash-loop: 5/300
# noops-notify: ops

# god 0.13 could lose the crash-loop rule's transition: queued operations go before due checks;
# a removed watch's driver ends without a FATAL log line.
if defined?(God::DriverOperation) && !God::TimedEvent.method_defined?(:noops_operations_first)
  class God::TimedEvent
    def noops_operations_first; end

    def <=>(other)
      mine = is_a?(God::DriverOperation) ? 0 : 1
      theirs = other.is_a?(God::DriverOperation) ? 0 : 1
      mine == theirs ? at <=> other.at : mine <=> theirs
    end
  end

  class God::DriverEventQueue
    alias_method :noops_pop, :pop

    def pop
      loop do
        event = noops_pop
        return event if event
        raise ThreadError, 'queue empty' if @shutdown
      end
    end
  end
end

God.watch do |w|
  w.name = 'dch'
  w.interval = 2.seconds
  w.start = '/home/work/dch/bin/run.sh --port 8080'
  w.stop = '/home/work/dch/bin/stop.sh'
  w.stop_timeout = 30.seconds
  w.dir = '/home/work/dch'
  w.uid = 'work'
  w.gid = 'work'
  w.log = '/data/dch/log/dch.out'
  w.err_log = '/data/dch/log/dch.err'
  w.env = {
    'GREETING' => 'say "hi" twice',
    'JAVA_OPTS' => '-Xmx256m -Dx=50%',
    'NOOPS_VERSION' => '93043',
  }
  w.start_if do |start|
    start.condition(:process_running) do |c|
      c.interval = 2.seconds
      c.running = false
    end
  end
  w.restart_if do |restart|
    restart.condition(:memory_usage) do |c|
      c.interval = 2.seconds
      c.above = 524288 # kilobytes (536870912 bytes)
      c.times = [3, 5]
    end
    restart.condition(:cpu_usage) do |c|
      c.interval = 2.seconds
      c.above = 150.percent
      c.times = 5
    end
  end
  w.lifecycle do |on|
    on.condition(:flapping) do |c|
      c.to_state = [:start, :restart]
      c.times = 5
      c.within = 300.seconds
      c.transition = :unmonitored
      c.notify = 'ops'
    end
  end
end
